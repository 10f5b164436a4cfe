"""seqrnn gradcheck: every cell's gradients agree with finite differences; a planted wrong
gradient fails with exit code 1; the Phased LSTM check never straddles a kink; bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli.main import main

pytestmark = pytest.mark.tf_only
tf = pytest.importorskip("tensorflow")

import seqrnn.gradcheck as gradcheck  # noqa: E402
from seqrnn.cells import VanillaRNNCell  # noqa: E402
from seqrnn.layers import VanillaRNN  # noqa: E402


@pytest.mark.parametrize("path", ["fused", "per-step"])
@pytest.mark.parametrize("cell", ["vanilla", "lstm", "gru", "phased"])
def test_every_gradient_of_every_cell_matches_finite_differences(cell, path):
    result = gradcheck.check_cell(cell, [3, 8], units=3, seed=1, path=path)
    assert result.path == path  # the fused path's hand-written backward pass is what is checked
    expected = {"kernel", "recurrent_kernel", "bias", "readout_kernel", "readout_bias"}
    if cell == "phased":
        expected |= {"tau", "shift", "r_on"}
    if cell == "phased" and path == "per-step":
        expected |= {"input_peephole", "forget_peephole", "output_peephole"}
    assert set(result.errors) == expected
    worst = result.worst()
    assert worst["abs"] < 1e-7 and worst["rel"] < 1e-7, worst
    assert result.passed(1e-7)


def test_the_periods_check_over_long_sequences_as_the_readme_example_runs():
    """`seqrnn gradcheck --cell phased --seq-lens 5,25` at the default eps: over 25 steps a
    step of eps in tau was off by 1.4e-7 (truncation); tau moves by eps / 10."""
    result = gradcheck.check_cell("phased", [25], seed=0)
    assert result.passed(1e-7), result.worst()
    assert max(e["abs"] for e in result.errors["tau"]) < 1e-8


def test_the_time_gate_parameters_get_non_zero_gradients_that_check():
    """tau, s and r_on are not checked trivially at zero: their gradients are real."""
    import keras

    keras.utils.set_random_seed(0)
    layer = gradcheck.layer_classes()["phased"](
        3, return_sequences=True, dtype="float64", **gradcheck.layer_arguments("phased", "fused")
    )
    rng = np.random.default_rng(0)
    layer([np.zeros((2, 1, 4)), np.zeros((2, 1))])
    times, margin = gradcheck.kink_safe_times(layer, 10, 1e-3, rng)
    x = tf.constant(rng.normal(size=(2, 10, 4)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer([x, tf.constant(times)], training=True) ** 2)
    grads = dict(
        zip(
            [v.name for v in layer.trainable_variables],
            tape.gradient(loss, layer.trainable_variables),
            strict=True,
        )
    )
    for name in ("tau", "shift", "r_on"):
        assert np.abs(np.asarray(grads[name])).max() > 1e-6, name
    assert margin > 0  # no phase sits on a kink


def test_kink_safe_times_keep_every_gate_in_its_piece():
    import keras

    keras.utils.set_random_seed(3)
    layer = gradcheck.layer_classes()["phased"](
        5, dtype="float64", **gradcheck.LAYER_ARGUMENTS["phased"]
    )
    layer([np.zeros((2, 1, 2)), np.zeros((2, 1))])
    eps = 1e-3
    times, _ = gradcheck.kink_safe_times(layer, 25, eps, np.random.default_rng(0))
    tau = np.asarray(layer.cell.tau, np.float64)
    shift = np.asarray(layer.cell.shift, np.float64)
    r_on = np.asarray(layer.cell.r_on, np.float64)
    base = gradcheck._gate_pieces(times, tau, shift, r_on)
    for d in (2 * eps, -2 * eps):
        for moved in ((tau + d, shift, r_on), (tau, shift + d, r_on), (tau, shift, r_on + d)):
            period, piece, _ = gradcheck._gate_pieces(times, *moved)
            assert np.array_equal(period, base[0]) and np.array_equal(piece, base[1])
    # The open, rising/falling and closed pieces all occur: every branch of the gate is checked.
    assert set(np.unique(base[1])) == {0, 1, 2}


@tf.custom_gradient
def tanh_without_its_derivative(x):
    y = tf.tanh(x)
    return y, lambda dy: dy  # drops the factor 1 - tanh(x)^2


class BrokenCell(VanillaRNNCell):
    def build(self, input_shape):
        super().build(input_shape)
        self.activation = tanh_without_its_derivative


class BrokenRNN(VanillaRNN):
    cell_class = BrokenCell


def test_a_planted_wrong_gradient_fails_with_exit_code_1(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(gradcheck, "layer_classes", lambda: {"vanilla": BrokenRNN})
    report = tmp_path / "report.json"
    code = main(["gradcheck", "--cell", "vanilla", "--seq-lens", "3,5", "--json", str(report)])
    assert code == 1
    assert "FAIL" in capsys.readouterr().out
    (entry,) = json.loads(report.read_text())
    assert entry["passed"] is False
    assert entry["worst"]["rel"] > 1e-3
    # The readout's gradients do not pass through the activation's derivative... but its input
    # does: only the recurrent weights are wrong by construction.
    assert entry["errors"]["kernel"][0]["rel"] > 1e-3


def test_cli_passes_writes_json_and_exits_0(tmp_path, capsys):
    report = tmp_path / "report.json"
    code = main(["gradcheck", "--cell", "gru", "--seq-lens", "4", "--json", str(report)])
    assert code == 0
    out = capsys.readouterr().out
    assert "gru" in out and "T=4" in out and "pass" in out
    (entry,) = json.loads(report.read_text())
    assert entry["passed"] and entry["seq_lens"] == [4]
    assert entry["worst"]["abs"] < 1e-7


def test_a_trained_run_is_checked_in_float64(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "ndfa", "--units", "6", "--embedding-dim", "3", "--batch-size", "4"]
    args += ["--no-export"]
    assert main([*args, "--steps", "3", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["gradcheck", "--run", str(out), "--elements", "5"]) == 0
    printed = capsys.readouterr().out
    assert "kernel" in printed and "pass" in printed


@pytest.mark.parametrize(
    "args, message",
    [
        (["--eps", "0"], "eps must lie in (0, 1)"),
        (["--eps", "-1e-3"], "eps must lie in (0, 1)"),
        (["--seq-lens", ""], "seq-lens must be a comma-separated list"),
        (["--seq-lens", "5,x"], "seq-lens must be a comma-separated list"),
        (["--seq-lens", "0"], "seq-lens must be a comma-separated list"),
        (["--cell", "rnn"], "unknown cell 'rnn'"),
        (["--run", "no-such-run"], "not a run folder"),
        (["--elements", "5"], "--elements says how many elements of a run's weights"),
        (["--units", "0"], "--units must be an integer >= 1"),
        (["--json", "no-such-folder/g.json"], "no-such-folder is not a folder; --json needs"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    assert main(["gradcheck", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_the_cells_options_are_refused_beside_a_run(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    args = ["gradcheck", "--run", str(tmp_path / "run"), "--cell", "gru", "--path", "per-step"]
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "so --cell, --path would be ignored" in lines[0], lines
