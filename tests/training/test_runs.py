"""The run folder: never overwritten, locked while in use, its samples truncated on resume."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cli.main import main
from seqrnn.training import RunFolder
from tests.training.helpers import TINY, train_in_process

pytestmark = pytest.mark.tf_only
runner = CliRunner()


class TestRunFolder:
    def test_an_existing_folder_is_never_overwritten(self, tmp_path, capsys):
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "notes.txt").write_text("mine")
        assert main(["train", "palindrome", "--out", str(tmp_path / "run")]) == 2
        assert "--resume to continue it or --force" in capsys.readouterr().err
        assert (tmp_path / "run" / "notes.txt").read_text() == "mine"

    def test_force_replaces_it(self, tmp_path):
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "config.json").write_text("{}")  # a run folder, as seqrnn made it
        (tmp_path / "run" / "notes.txt").write_text("old")
        code = main(
            [
                "train",
                "palindrome",
                *TINY,
                "--steps",
                "2",
                "--force",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        assert code == 0
        assert not (tmp_path / "run" / "notes.txt").exists()
        assert (tmp_path / "run" / "config.json").exists()

    def test_force_replaces_only_a_run_folder_that_does_not_hold_the_working_one(
        self, tmp_path, capsys, monkeypatch
    ):
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "notes.txt").write_text("mine")
        assert main(["train", "palindrome", "--force", "--out", str(tmp_path / "mine")]) == 2
        assert "is not a run folder (it has no config.json)" in capsys.readouterr().err
        (tmp_path / "run" / "inside").mkdir(parents=True)
        (tmp_path / "run" / "config.json").write_text("{}")
        monkeypatch.chdir(tmp_path / "run" / "inside")
        assert main(["train", "palindrome", "--force", "--out", str(tmp_path / "run")]) == 2
        assert "the working directory, so --force does not" in capsys.readouterr().err
        assert main(["train", "palindrome", "--force", "--out", ".."]) == 2
        assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"
        assert (tmp_path / "run" / "config.json").read_text() == "{}"

    def test_a_folder_in_use_is_refused(self, tmp_path, capsys):
        holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            (tmp_path / "run").mkdir()
            (tmp_path / "run" / ".lock").write_text(str(holder.pid))
            code = main(["train", "palindrome", "--force", "--out", str(tmp_path / "run")])
            assert code == 1
            assert f"in use by process {holder.pid}" in capsys.readouterr().err
        finally:
            holder.kill()

    def test_a_stale_lock_is_taken_over(self, tmp_path):
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / ".lock").write_text(str(dead.pid))
        assert (
            main(
                [
                    "train",
                    "palindrome",
                    *TINY,
                    "--steps",
                    "2",
                    "--force",
                    "--out",
                    str(tmp_path / "run"),
                ]
            )
            == 0
        )
        assert not (tmp_path / "run" / ".lock").exists()


def test_samples_are_written_and_a_resume_draws_no_sample_twice(tmp_path):
    settings = {"task": "ndfa", "steps": 8, "sample_every": 2, "checkpoint_every": 4}
    train_in_process(tmp_path / "run", **settings)
    text = (tmp_path / "run" / "samples.txt").read_text(encoding="utf-8")
    headers = [line for line in text.splitlines() if line.startswith("=== step")]
    assert headers == [f"=== step {s}, temperature 1.0 ===" for s in (2, 4, 6, 8)]
    run = RunFolder(tmp_path / "run")
    run.truncate_samples(4)  # what a resume from the checkpoint at step 4 does first
    kept = run.samples.read_text(encoding="utf-8")
    assert kept == text[: text.index("=== step 6")]


def test_a_resume_without_checkpoints_says_it_starts_from_step_0(tmp_path):
    """A run stopped before its first checkpoint: resuming trains it again from the start, and
    says so rather than seeming to continue."""
    import shutil

    from seqrnn.errors import SeqrnnWarning
    from seqrnn.settings import TrainConfig
    from seqrnn.training import Trainer

    train_in_process(tmp_path / "run", task="ndfa", steps=4, checkpoint_every=4)
    shutil.rmtree(tmp_path / "run" / "checkpoints")
    config = TrainConfig.load(tmp_path / "run" / "config.json")
    run = RunFolder.open(tmp_path / "run", resume=True, force=False)
    try:
        with pytest.warns(SeqrnnWarning, match="holds no checkpoint, so the run starts again"):
            summary = Trainer(config, run, resume=True).train()
    finally:
        run.unlock()
    assert summary.step == 4
    steps = [line.split(",")[0] for line in run.metrics.read_text().splitlines()[1:]]
    assert steps == sorted(set(steps), key=int)  # its old rows were dropped, none twice
