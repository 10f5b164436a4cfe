"""seqrnn bench: the NumPy reference learns, every section runs and reports, bad input is refused.

Speeds are measured, never asserted: the tests check what the bench reports, not how fast."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app, main
from seqrnn.bench import (
    SEEDS_SEQ_LEN,
    Bench,
    BenchConfig,
    MinCharRNN,
    harness,
    interleaved_seconds,
    matmul_flops,
    training_flops,
)
from seqrnn.bench.remote import RemoteStep
from seqrnn.bench.sections import Row

runner = CliRunner()


def test_the_numpy_reference_starts_uniform_and_learns_a_window():
    vocab = 20
    net = MinCharRNN(vocab, 16, seed=0)
    chars = np.random.default_rng(0).integers(0, vocab, SEEDS_SEQ_LEN + 1)
    first = net.update(chars[:-1], chars[1:])
    # Weights of 0.01 give an almost uniform softmax: 25 steps of log(vocab).
    assert first == pytest.approx(SEEDS_SEQ_LEN * math.log(vocab), rel=1e-3)
    for _ in range(60):
        last = net.update(chars[:-1], chars[1:])
    assert last < 0.2 * first


def test_the_numpy_reference_gradient_is_the_finite_difference_one():
    """Its hand-derived backward pass is checked like seqrnn's: against centered differences."""
    vocab, units = 6, 4
    net = MinCharRNN(vocab, units, seed=1)
    rng = np.random.default_rng(2)
    for p in net.params.values():
        p += rng.normal(0, 0.3, p.shape)
    chars = rng.integers(0, vocab, 6)
    h = rng.normal(0, 0.5, (units, 1))
    _, grads, _ = net.loss_and_grads(chars[:-1], chars[1:], h)
    eps = 1e-6
    for name, p in net.params.items():
        numeric = np.zeros_like(p)
        for index in np.ndindex(p.shape):
            values = []
            for sign in (1, -1):
                p[index] += sign * eps
                values.append(net.loss_and_grads(chars[:-1], chars[1:], h)[0])
                p[index] -= sign * eps
            numeric[index] = (values[0] - values[1]) / (2 * eps)
        np.testing.assert_allclose(grads[name], numeric, atol=1e-7, err_msg=name)
    assert np.abs(grads["Whh"]).max() > 1e-3


def test_training_flops_count_the_three_products_of_every_layer():
    config = BenchConfig(batch_size=2, seq_len=3, embedding_dim=4, units=5, vocab_size=7)
    # LSTM: 4 gates; forward 2*b*t*(e*4u + u*4u + u*v); training three times that.
    assert training_flops("lstm", config) == 3 * 2 * 2 * 3 * (4 * 20 + 5 * 20 + 5 * 7)
    assert training_flops("phased", config) == training_flops("lstm", config)
    assert training_flops("vanilla", config) < training_flops("gru", config)


@pytest.fixture
def clocked(monkeypatch):
    """(order, call): `call(name, seconds)` makes a call that appends its name to `order` and
    advances the bench's clock by `seconds`."""
    clock = [0.0]
    monkeypatch.setattr(harness.time, "perf_counter", lambda: clock[0])
    order = []

    def call(name, seconds):
        def run():
            order.append(name)
            clock[0] += seconds

        return run

    return order, call


def test_rows_compared_are_timed_in_alternating_rounds(clocked):
    """Every call runs `repeats` times, the calls taking turns a round at a time, and each row's
    median is of its own calls' times (read from a clock the calls advance)."""
    order, call = clocked
    around = []
    calls = [call("a", 1.0), call("b", 3.0)]
    seconds = interleaved_seconds(
        calls, 7, before=lambda i: around.append(("before", i)), after=lambda i: around.append(i)
    )
    assert seconds == [1.0, 3.0]
    assert order == ["a", "a", "b", "b"] * 2 + ["a", "b"] * 3
    assert around[:4] == [("before", 0), 0, ("before", 1), 1] and len(around) == 20
    assert interleaved_seconds(calls, 1) == [1.0, 3.0] and order[-2:] == ["a", "b"]


def test_the_peak_is_timed_in_the_rounds_of_the_rows_that_count_flops(clocked):
    """Rows with a FLOP count share their alternating rounds with the matmul, and their fraction
    of the peak is of that matmul's median; rows without one are timed without it."""
    order, call = clocked
    bench = Bench(BenchConfig(repeats=2, warmup=0))
    bench._peak_call = call("matmul", 0.5)
    ours, peer = bench._measure_rows(
        "fit",
        [
            Row("ours", lambda: call("ours", 2.0), "tokens/s", 100.0, flops=4e11),
            Row("peer", lambda: call("peer", 4.0), "tokens/s", 100.0, flops=4e11),
        ],
    )
    assert order == ["ours", "peer", "matmul"] * 2
    peak = matmul_flops() / 0.5 / 1e9
    assert ours.peak_gflops == peer.peak_gflops == pytest.approx(peak)
    assert ours.peak_fraction == pytest.approx(4e11 / 2.0 / 1e9 / peak)
    assert peer.peak_fraction == pytest.approx(ours.peak_fraction / 2)
    order.clear()
    (plain,) = bench._measure_rows("seeds", [Row("plain", lambda: call("plain", 1.0), "u/s", 1)])
    assert order == ["plain", "plain"] and plain.peak_fraction is plain.peak_gflops is None


def test_bench_reports_every_section(tmp_path):
    out = tmp_path / "bench.json"
    args = ["bench", "--cells", "lstm,phased", "--batch-size", "2", "--seq-len", "3"]
    args += ["--units", "4", "--embedding-dim", "2", "--vocab-size", "8", "--repeats", "1"]
    args += ["--warmup", "0", "--length", "5", "--no-torch", "--json", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    rows = {r["name"]: r for r in report["results"]}
    assert report["config"]["cells"] == ["lstm", "phased"]
    assert report["config"]["allocator"] == "keep"
    assert {"seqrnn.layers.LSTM (fused)", "seqrnn.layers.PhasedLSTM (fused)"} <= set(rows)
    assert "keras.layers.LSTM" in rows and not any(n.startswith("torch") for n in rows)
    ours = rows["seqrnn.layers.LSTM (fused)"]
    assert ours["rate"] > 0 and ours["peak_fraction"] > 0 and ours["peak_rss_mib"] > 0
    assert ours["peak_gflops"] > 0
    assert "keras.layers.LSTM" in ours["relative"]
    sections = {r["section"] for r in report["results"]}
    assert sections == {"machine", "training", "fit", "seeds", "generation"}
    fit = {r["name"]: r for r in report["results"] if r["section"] == "fit"}
    assert {"seqrnn.layers.LSTM (fused)", "keras.layers.LSTM"} <= set(fit)
    assert {r["backend"] for r in report["results"]} == {"tensorflow"}
    assert any("NumPy min-char-rnn" in n for n in rows)
    assert any(n.startswith("SavedModel generate, 64") for n in rows)
    assert "seqrnn.layers.LSTM (fused)" in result.stdout  # the table


@pytest.mark.slow
def test_each_backend_is_measured_in_a_process_of_its_own(tmp_path):
    """--backend all: the fit section on TensorFlow, JAX and PyTorch (where installed), each row
    naming its backend and the path seqrnn's layer took there."""
    import importlib.util

    out = tmp_path / "bench.json"
    backends = ["tensorflow", "jax"] + ["torch"] * bool(importlib.util.find_spec("torch"))
    args = ["bench", "--backend", "all", "--sections", "fit", "--cells", "gru"]
    args += ["--batch-size", "2", "--seq-len", "3", "--units", "4", "--embedding-dim", "2"]
    args += ["--repeats", "1", "--warmup", "0", "--no-torch", "--json", str(out)]
    if len(backends) < 3:
        pytest.skip("PyTorch is not installed")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["results"]
    paths = {"tensorflow": "fused", "jax": "fused", "torch": "native"}
    for backend in backends:
        mine = {r["name"]: r for r in rows if r["backend"] == backend}
        assert f"seqrnn.layers.GRU ({paths[backend]})" in mine, mine
        assert "keras.layers.GRU" in mine and any(n.startswith("float32 matmul") for n in mine)
        assert mine[f"seqrnn.layers.GRU ({paths[backend]})"]["rate"] > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--cells", "lstm,tcn"], "unknown cell tcn"),
        (["--sections", "inference"], "unknown section inference"),
        (["--units", "0"], "--units must be an integer >= 1"),
        (["--vocab-size", "500"], "--vocab-size must lie in 2..94"),
        (["--json", "/no/such/folder/b.json"], "is not a folder"),
        (["--backend", "jax", "--sections", "seeds"], "run on TensorFlow only"),
        (["--backend", "mxnet"], "Invalid value for '--backend'"),
        (["--allocator", "bfc"], "Invalid value for '--allocator'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert main(["bench", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_each_measuring_process_gets_the_allocator_settings_of_its_framework():
    """keep: glibc keeps freed blocks in every process, with one arena for JAX only, and
    TensorFlow uses BFC; default: none of it, whatever the environment said."""
    user = {"PATH": "/bin", "MALLOC_ARENA_MAX": "8", "MALLOC_TRIM_THRESHOLD_": "0"}
    keep = {b: harness.allocator_environment(user, "keep", b) for b in harness.BACKENDS}
    for backend, env in keep.items():
        assert env["PATH"] == "/bin" and env["TF_CPU_ALLOCATOR_USE_BFC"] == "true"
        assert {k: env[k] for k in harness.KEEP_FREED} == harness.KEEP_FREED
        assert env.get("MALLOC_ARENA_MAX") == ("1" if backend == "jax" else None)
    for backend in harness.BACKENDS:
        env = harness.allocator_environment(user, "default", backend)
        assert env == {"PATH": "/bin", "TF_CPU_ALLOCATOR_USE_BFC": "false"}


def _environment_of(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode().split("=", 1) for p in pairs if b"=" in p)


def test_torch_nn_is_timed_in_a_process_of_its_own():
    """Each call runs one training step in the other process and waits for it; the row's memory
    is that process's; it runs under its framework's allocator settings and ends on close()."""
    pytest.importorskip("torch")
    config = BenchConfig(batch_size=2, seq_len=3, embedding_dim=2, units=4, vocab_size=8)
    step = RemoteStep("lstm", config, embedded=True)
    try:
        pid = step.process.pid
        assert pid != os.getpid()
        env = _environment_of(pid)
        assert env == harness.allocator_environment(dict(os.environ), "keep", "torch") | {
            "KERAS_BACKEND": "torch"
        }
        before = step.memory.peak_mib()
        assert before is not None and before > 0
        step()
        step()
        assert step.process.poll() is None  # (still serving)
    finally:
        step.close()
    assert step.process.returncode == 0


def test_a_failing_torch_nn_process_says_why():
    pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=r"torch\.nn's measuring process stopped: KeyError"):
        RemoteStep("tcn", BenchConfig(), embedded=True)
