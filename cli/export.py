"""`seqrnn export` and `seqrnn sample`: a run as a SavedModel, and samples from either."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.files import check_new_file
from cli.settings import library_settings, seed_option

Weights = library_settings().Weights


def export(
    run: Annotated[
        Path, typer.Argument(metavar="RUN", help="A run folder written by seqrnn train.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="SavedModel folder.", show_default="saved_models/<run name>"
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
    weights: Annotated[
        Weights | None,
        typer.Option(
            help="The best validation loss's weights or the last step's.",
            show_default="the run's export_weights, best",
        ),
    ] = None,
) -> None:
    """Export a run as a TensorFlow SavedModel that generates in-graph (needs only TF).

    Examples:
    seqrnn export runs/toy-lstm-20261122-101500
    seqrnn export runs/toy-lstm-20261122-101500 --out served/toy --force
    """
    from seqrnn.export import export_run

    target = out or Path("saved_models") / Path(run).resolve().name
    target = export_run(run, target, force=force, weights=weights and weights.value)
    typer.echo(str(target))


def sample(
    model: Annotated[
        Path,
        typer.Argument(metavar="MODEL", help="A SavedModel from seqrnn export, or a run folder."),
    ],
    prime: Annotated[
        str | None,
        typer.Option(
            help=(
                "Text the samples continue. Without it a text model trained in sequential or "
                "chunks mode continues its own burnt-in text; one trained on random windows "
                "starts after the text's most frequent character."
            ),
            show_default="the task's start",
        ),
    ] = None,
    length: Annotated[int, typer.Option(help="Characters per sample (at most 100000).")] = 200,
    temperature: Annotated[
        list[float] | None,
        typer.Option(help="Temperature, repeatable (0 = greedy).", show_default="1"),
    ] = None,
    top_k: Annotated[int, typer.Option(help="Keep the k most likely characters (0 = all).")] = 0,
    top_p: Annotated[float, typer.Option(help="Nucleus: keep this much probability.")] = 1.0,
    num_samples: Annotated[int, typer.Option(help="Samples per temperature.")] = 1,
    seed: Annotated[int, seed_option("Same seed, same samples.")] = 0,
    output: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Write the samples to this new file.", show_default="stdout"
        ),
    ] = None,
) -> None:
    """Print samples of a text or grammar model; several --temperature values compare them.

    Examples:
    seqrnn sample saved_models/toy-lstm-20261122-101500 --temperature 0.5 --temperature 1
      --num-samples 3
    seqrnn sample runs/text-lstm-20261122-101500 --prime "ROMEO:" --length 500 --output romeo.txt
    """
    from seqrnn.generation import check_sampling

    temperatures = temperature or [1.0]
    for value in temperatures:
        check_sampling(length, value, top_k, top_p, num_samples)
    check_new_file(output, "--output")
    _check_generation_fits(model, num_samples, length)
    if (model / "config.json").exists() and not (model / "saved_model.pb").exists():
        results = _sample_run(model, prime, length, temperatures, top_k, top_p, num_samples, seed)
    else:
        results = _sample_saved(model, prime, length, temperatures, top_k, top_p, num_samples, seed)
    several = len(temperatures) > 1 or num_samples > 1
    lines = []
    for value, texts in zip(temperatures, results, strict=True):
        for index, text in enumerate(texts):
            if several:
                lines.append(f"--- temperature {value:g}, sample {index + 1} ---")
            lines.append(text)
    text = "\n".join(lines) + "\n"
    if output is not None:
        output.write_text(text, encoding="utf-8")
        count = len(temperatures) * num_samples
        typer.echo(f"wrote {count} sample{'s' * (count != 1)} to {output}", err=True)
    else:
        typer.echo(text, nl=False)


def _check_generation_fits(model: Path, num_samples: int, length: int) -> None:
    """Refuses a generation that cannot fit in memory before the model is loaded, from the
    settings saved beside it (a run's config.json or a SavedModel's assets/config.json)."""
    import json

    from seqrnn.training.memory import check_generation_fits

    for path in (model / "config.json", model / "assets" / "config.json"):
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
            units, layers = int(config["units"]), int(config["layers"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not this kind of folder, or damaged: the loading says so
        vocabulary = config.get("vocabulary") or []
        check_generation_fits(num_samples, length, units, layers, len(vocabulary))
        return


def _sample_saved(folder, prime, length, temperatures, top_k, top_p, num_samples, seed):
    import tensorflow as tf

    from seqrnn.errors import SeqrnnError, UsageError
    from seqrnn.export import read_marker
    from seqrnn.tasks.base import check_prime

    marker = read_marker(folder)
    if not marker.get("generates"):
        raise UsageError(
            f"{folder} holds a {marker['task']} model, which does not generate text; use its "
            "serving_default signature"
        )
    prime = marker.get("default_prime", "") if prime is None else prime
    # (exports older than the needs_prime key: only text models had no start token)
    check_prime(prime, marker["vocabulary"], marker.get("needs_prime", marker["task"] == "text"))
    try:
        loaded = tf.saved_model.load(str(folder))  # kept referenced while its signature runs
    except Exception as error:  # a truncated or foreign saved_model.pb: what TensorFlow says
        reason = (getattr(error, "message", None) or str(error)).strip().splitlines()[0]
        raise SeqrnnError(
            f"{folder}: the SavedModel is damaged and cannot be loaded ({reason[:200]}); export "
            "the run again with seqrnn export RUN --force"
        ) from None
    generate = loaded.signatures["generate"]
    results = []
    for value in temperatures:
        out = generate(
            prime=tf.constant(prime),
            length=tf.constant(length, tf.int32),
            temperature=tf.constant(value, tf.float32),
            top_k=tf.constant(top_k, tf.int32),
            top_p=tf.constant(top_p, tf.float32),
            seed=tf.constant([seed, 0], tf.int64),
            num_samples=tf.constant(num_samples, tf.int32),
        )["samples"]
        results.append([prime + s.decode("utf-8") for s in out.numpy()])
    return results


def _sample_run(run, prime, length, temperatures, top_k, top_p, num_samples, seed):
    from seqrnn.errors import UsageError
    from seqrnn.generation import generator_for, sample_texts
    from seqrnn.restore import load_run

    loaded = load_run(run)
    task = loaded.task
    generator = generator_for(loaded.model, task)
    if generator is None:
        raise UsageError(f"{run} trained a {task.name} model, which does not generate text")
    ids, prime = task.prime_ids(prime)
    return [
        [
            prime + text
            for text in sample_texts(
                generator, task, ids, length, value, num_samples, (seed, 0), top_k, top_p
            )
        ]
        for value in temperatures
    ]
