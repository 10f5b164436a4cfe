"""`seqrnn bench`: training and generation speed against Keras, PyTorch and NumPy."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cli.files import check_json_file


class Backend(str, Enum):
    tensorflow = "tensorflow"
    jax = "jax"
    torch = "torch"
    all = "all"


class Allocator(str, Enum):
    keep = "keep"
    default = "default"


def _names(text: str, valid: tuple[str, ...], what: str) -> tuple[str, ...]:
    from seqrnn.errors import UsageError

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in valid]
    if not names or unknown:
        raise UsageError(
            f"unknown {what} {', '.join(unknown) or repr(text)}; choose from {', '.join(valid)} "
            "(comma-separated)"
        )
    return names


def bench(
    cells: Annotated[str, typer.Option(help="Cells to train, comma-separated.")] = (
        "vanilla,lstm,gru,phased"
    ),
    sections: Annotated[
        str,
        typer.Option(
            help="What to measure: training, fit, seeds, generation (comma-separated); only fit "
            "runs on JAX and PyTorch."
        ),
    ] = "training,fit,seeds,generation",
    backend: Annotated[
        Backend,
        typer.Option(help="The Keras backend to measure on, each in a process of its own."),
    ] = Backend.tensorflow,
    batch_size: Annotated[int, typer.Option(help="Sequences per training step.")] = 64,
    seq_len: Annotated[int, typer.Option(help="Steps per sequence.")] = 100,
    embedding_dim: Annotated[int, typer.Option(help="Embedding width.")] = 64,
    units: Annotated[int, typer.Option(help="Units of the recurrent layer.")] = 256,
    vocab_size: Annotated[int, typer.Option(help="Tokens in the vocabulary.")] = 65,
    repeats: Annotated[int, typer.Option(help="Timed calls per row (the median is kept).")] = 10,
    warmup: Annotated[int, typer.Option(help="Untimed calls before timing.")] = 2,
    length: Annotated[int, typer.Option(help="Characters generated per sample.")] = 1000,
    torch: Annotated[
        bool, typer.Option("--torch/--no-torch", help="Compare with PyTorch if installed.")
    ] = True,
    allocator: Annotated[
        Allocator,
        typer.Option(
            help="keep: the measuring processes keep freed memory for reuse (TensorFlow's BFC "
            "allocator; glibc's MALLOC_MMAP_THRESHOLD_=4294967296 "
            "MALLOC_TRIM_THRESHOLD_=8589934592, and MALLOC_ARENA_MAX=1 for JAX's process), so no "
            "step faults its buffers' pages in again; default: each process as it starts "
            "without settings."
        ),
    ] = Allocator.keep,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            metavar="FILE",
            help="Also write every figure as JSON here.",
            show_default="none",
        ),
    ] = None,
) -> int:
    """Measure seqrnn's layers against their peers, side by side, on each Keras backend.

    Each backend (--backend tensorflow, jax, torch, or all three) runs in a process of its own.
    Training (TensorFlow): tokens/s of seqrnn's own training step (embedding -> recurrent layer
    -> dense head, Adam, batch x seq-len tokens) for seqrnn's vanilla, LSTM, GRU and Phased LSTM
    layers, keras.layers.SimpleRNN, LSTM and GRU, and PyTorch's nn.RNN, LSTM and GRU called
    directly (in a process of their own) when torch is installed; with the fraction of the
    float32 matmul peak, timed in the same alternating rounds as the rows. Fit (every backend):
    the same layers as a Keras user trains them, model.compile() with Keras' defaults and
    train_on_batch, on float features of embedding-dim width. Seeds (TensorFlow): the seeds'
    vanilla RNN (100 units, 25 steps, batch 1, AdaGrad, clipping) against a plain NumPy
    min-char-rnn, in updates/s. Generation (TensorFlow): characters/s of an exported
    SavedModel's in-graph generate (1 and 64 samples) against a Python loop calling
    model.predict per character. Each figure is the median of --repeats calls after --warmup
    calls; peak resident memory is measured per row. A table goes to stdout; --json also writes
    every figure. The measuring processes keep freed memory for reuse unless --allocator
    default.

    Examples:
    seqrnn bench --backend all --sections fit --cells lstm,gru --json bench.json
    seqrnn bench --sections training --cells lstm --repeats 5
    """
    from seqrnn.bench import BACKENDS, CELLS, EVERY_BACKEND, SECTIONS, BenchConfig
    from seqrnn.errors import UsageError

    numbers = {
        "batch-size": batch_size,
        "seq-len": seq_len,
        "embedding-dim": embedding_dim,
        "units": units,
        "repeats": repeats,
        "length": length,
    }
    for name, value in numbers.items():
        if value < 1:
            raise UsageError(f"--{name} must be an integer >= 1, got {value}")
    if warmup < 0:
        raise UsageError(f"--warmup must be an integer >= 0, got {warmup}")
    if vocab_size < 2 or vocab_size > 94:
        raise UsageError(f"--vocab-size must lie in 2..94 (printable ASCII), got {vocab_size}")
    check_json_file(json_path)
    config = BenchConfig(
        batch_size=batch_size,
        seq_len=seq_len,
        embedding_dim=embedding_dim,
        units=units,
        vocab_size=vocab_size,
        repeats=repeats,
        warmup=warmup,
        cells=_names(cells, CELLS, "cell"),
        sections=_names(sections, SECTIONS, "section"),
        torch=torch,
        generation_length=length,
        backends=BACKENDS if backend is Backend.all else (backend.value,),
        allocator=allocator.value,
    )
    from rich.console import Console

    from seqrnn.bench import PACKAGES, installed

    stderr = Console(stderr=True)
    if backend is Backend.all:  # the installed ones; naming one that is missing is an error
        skipped = [b for b in config.backends if not installed(PACKAGES[b])]
        config.backends = tuple(b for b in config.backends if b not in skipped)
        if skipped:
            stderr.print(f"Not installed, so not measured: {', '.join(skipped)}.")
    if config.backends != ("tensorflow",) and not set(config.sections) & set(EVERY_BACKEND):
        raise UsageError(
            f"sections {', '.join(config.sections)} run on TensorFlow only; add fit to "
            "--sections or choose --backend tensorflow"
        )

    from seqrnn.bench import run_backends, to_json

    if torch and not installed("torch"):
        stderr.print("PyTorch is not installed: its rows are left out (pip install -e '.[torch]').")
    with stderr.status("starting") as status:
        results = run_backends(config, lambda name: status.update(f"measuring {name}"))
    _print_table(results, config)
    if json_path is not None:
        json_path.write_text(json.dumps(to_json(config, results), indent=2), encoding="utf-8")
    return 0


def _print_table(results, config) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=(
            f"seqrnn bench: batch {config.batch_size} x {config.seq_len} steps, embedding "
            f"{config.embedding_dim}, {config.units} units, vocabulary {config.vocab_size}"
        ),
        title_justify="left",
    )
    columns = ("backend", "section", "what", "median s", "rate", "of peak", "peak RSS", "compared")
    for column in columns:
        left = column in ("backend", "section", "what")
        table.add_column(column, justify="left" if left else "right")
    for r in results:
        compared = "; ".join(f"{v:.2f}x {k}" for k, v in r.relative.items())
        table.add_row(
            r.backend,
            r.section,
            r.name,
            f"{r.seconds:.4f}",
            f"{r.rate:,.0f} {r.unit}",
            "" if r.peak_fraction is None else f"{r.peak_fraction:.0%}",
            "" if r.peak_rss_mib is None else f"{r.peak_rss_mib:,.0f} MiB",
            compared,
        )
    Console(width=200).print(table)
