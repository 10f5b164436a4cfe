"""Runs damaged on disk: a truncated checkpoint is skipped for the previous one, a folder left
with only a dead process's lock is a new folder, and the two sampling paths word a mistake
the same way."""

from __future__ import annotations

import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from cli.main import main

pytestmark = pytest.mark.tf_only

TINY = ["--units", "6", "--embedding-dim", "3", "--batch-size", "4", "--no-export"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A toy run of 4 steps with checkpoints at 2 and 4, trained without interruption."""
    run = tmp_path_factory.mktemp("finished") / "run"
    args = ["train", "toy", *TINY, "--steps", "4", "--checkpoint-every", "2", "--seed", "5"]
    assert main([*args, "--out", str(run)]) == 0
    return run


def test_a_truncated_checkpoint_is_skipped_and_training_resumes_from_the_one_before(
    finished, tmp_path, capsys
):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    data = run / "checkpoints" / "ckpt-4.data-00000-of-00001"
    cut = data.read_bytes()[:20]
    data.write_bytes(cut)
    (run / "model.keras").unlink()  # what a run killed before its end has not written yet
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    captured = capsys.readouterr()
    assert '"step": 2' in captured.out  # evaluated at the checkpoint before the damaged one
    assert "skipped the damaged checkpoint" in captured.err and "ckpt-4" in captured.err
    assert main(["train", "--resume", str(run), "--no-export"]) == 0
    err = capsys.readouterr().err
    assert "skipped the damaged checkpoint" in err and "using ckpt-2" in err
    whole = keras.models.load_model(finished / "model.keras").get_weights()
    resumed = keras.models.load_model(run / "model.keras").get_weights()
    for x, y in zip(whole, resumed, strict=True):  # as if steps 3 and 4 had never been lost
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)
    aside = run / "checkpoints" / "damaged"
    assert (aside / data.name).read_bytes() == cut  # kept, not deleted
    assert (run / "checkpoints" / "ckpt-4.index").exists()  # written again by the resumed run


def test_every_checkpoint_damaged_is_one_line_and_exit_1(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    for index in (run / "checkpoints").glob("*.index"):
        index.write_bytes(b"")
    capsys.readouterr()
    assert main(["sample", str(run)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "all 2 checkpoints are damaged" in err


def test_a_folder_with_only_a_dead_processs_lock_is_trained_into(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / ".lock").write_text(str(dead.pid))
    assert main(["train", "toy", *TINY, "--steps", "1", "--out", str(folder)]) == 0
    assert (folder / "config.json").exists() and not (folder / ".lock").exists()


def test_a_live_processs_lock_is_respected(tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:
            (folder / ".lock").write_text(str(alive.pid))
            assert main(["train", "toy", *TINY, "--steps", "1", "--out", str(folder)]) == 2
        finally:
            alive.kill()
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == [".lock"]


def test_both_sampling_paths_word_an_unknown_prime_character_the_same(finished, tmp_path, capsys):
    saved = tmp_path / "saved"
    assert main(["export", str(finished), "--out", str(saved)]) == 0
    capsys.readouterr()
    lines = []
    for model in (finished, saved):
        assert main(["sample", str(model), "--prime", "a€"]) == 2
        lines.append(capsys.readouterr().err.strip())
    assert lines[0] == lines[1] and "'€'" in lines[0]


def test_samples_written_to_a_file_are_counted_as_samples(finished, tmp_path, capsys):
    out = tmp_path / "samples.txt"
    assert main(["sample", str(finished), "--num-samples", "3", "--output", str(out)]) == 0
    assert f"wrote 3 samples to {out}" in capsys.readouterr().err
    assert out.read_text().count("--- temperature 1, sample") == 3
