"""`seqrnn train` on the command line: bad input, the printed result, Ctrl-C, the export."""

from __future__ import annotations

import json
import signal
import time

import pytest
from typer.testing import CliRunner

from cli.main import app, main
from tests.conftest import SHAKESPEARE
from tests.training.helpers import TINY, metric_rows, seqrnn_process

pytestmark = pytest.mark.tf_only
runner = CliRunner()


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "unknown task 'nope'; choose one of text, adder"),
        (["--cell", "cnn"], "'cnn' is not one of 'vanilla', 'lstm', 'gru', 'phased'"),
        (["--optimizer", "adamw"], "'adamw' is not one of 'sgd', 'adagrad', 'adam', 'rmsprop'"),
        (["--strategy", "tpu"], "'tpu' is not one of 'auto', 'one', 'mirrored', 'multiworker'"),
        (["--lr", "0"], "--lr must be > 0"),
        (["--lr", "-1"], "--lr must be > 0"),
        (["--batch-size", "0"], "batch-size must be an integer >= 1"),
        (["--steps", "0"], "steps must be an integer >= 1"),
        (["--clip-norm", "-1"], "clip-norm must be >= 0"),
        (["--clip-value", "-5"], "clip-value must be >= 0"),
        (["text", "--data", "/no/such/file.txt"], "no such file"),
        (
            ["text", "--data", str(SHAKESPEARE), "--seq-len", "0"],
            "--seq-len must be an integer >= 1",
        ),
        (["text"], "task text needs the setting --data (the UTF-8 text file)"),
        (["palindrome", "--set", "length=1"], "length (T) must be an integer >= 2"),
        (["palindrome", "--set", "oops"], "--set takes KEY=VALUE"),
        (["--units", "abc"], "Invalid value for '--units'"),
        (["--chrono-init", "1"], "chrono-init must be 0 (off) or the longest dependency"),
        (["--cell", "vanilla", "--chrono-init", "50"], "the vanilla cell has none"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert main(["train", *args, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not out.exists()


def test_cli_runner_trains_and_prints_the_result(tmp_path):
    result = runner.invoke(
        app, ["train", "ndfa", *TINY, "--steps", "3", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    assert '"step": 3' in result.stdout


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    out = tmp_path / "run"
    args = ["train", "palindrome", *TINY, "--steps", "100000", "--out", str(out)]
    process = seqrnn_process(*args)
    deadline = time.time() + 240
    while (
        time.time() < deadline
        and len(metric_rows(out) if (out / "metrics.csv").exists() else []) < 3
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130
    err = process.stderr.read().strip().splitlines()
    assert "interrupted at step" in err[-1] and "--resume" in err[-1]
    assert "Traceback" not in "\n".join(err)
    step = int(err[-1].split("interrupted at step ")[1].split(";")[0])
    assert (out / "checkpoints" / f"ckpt-{step}.index").exists()
    assert int(metric_rows(out)[-1]["step"]) <= step
    assert not (out / ".lock").exists()
    # the run stopped between steps: the saved step is the number of updates the optimizer made
    import tensorflow as tf

    saved = dict(tf.train.list_variables(str(out / "checkpoints")))
    assert "step/.ATTRIBUTES/VARIABLE_VALUE" in saved
    reader = tf.train.load_checkpoint(str(out / "checkpoints"))
    assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == step
    assert reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == step


def test_multiworker_without_tf_config_is_one_line_and_leaves_no_folder(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = main(
        ["train", "palindrome", *TINY, "--strategy", "multiworker", "--out", str(tmp_path / "r")]
    )
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "TF_CONFIG" in lines[0] and "--strategy" in lines[0]
    assert not (tmp_path / "r").exists()


def test_a_finished_run_is_exported_to_saved_models(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", "brackets", "--units", "6", "--embedding-dim", "3", "--steps", "2"]
    assert main([*args, "--out", "runs/b"]) == 0
    assert (tmp_path / "saved_models" / "b" / "saved_model.pb").exists()
    assert "exported to saved_models/b" in capsys.readouterr().err
    # A second run of the same name keeps the export that is there and says so.
    marker = tmp_path / "saved_models" / "b" / "assets" / "seqrnn.json"
    before = marker.read_bytes()
    assert main([*args, "--out", "other/b"]) == 0
    assert "saved_models/b exists and is kept" in capsys.readouterr().err
    assert marker.read_bytes() == before
    # Resuming it does not replace the other run's export either; resuming its own run does.
    assert main(["train", "--resume", "other/b"]) == 0
    assert "saved_models/b exists and is kept" in capsys.readouterr().err
    assert marker.read_bytes() == before
    assert main(["train", "--resume", "runs/b"]) == 0
    assert "exported to saved_models/b" in capsys.readouterr().err
    assert json.loads(marker.read_text())["run"] == str((tmp_path / "runs" / "b").resolve())
