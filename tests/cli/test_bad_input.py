"""Bad input, command by command: one line on stderr (no traceback), the documented exit code
(2 for usage, 1 for failures), and nothing around it changed.

Places the commands meet: missing, empty, binary and FIFO files, folders where files belong and
files where folders belong, read-only folders, damaged runs (truncated checkpoints, a truncated
model.keras, a broken config.json), absurd numbers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cli.main import main

pytestmark = pytest.mark.tf_only

TINY = ["--units", "6", "--embedding-dim", "3", "--batch-size", "4", "--no-export"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A trained toy run (checkpoints at steps 2 and 4), its SavedModel and a text file."""
    root = tmp_path_factory.mktemp("base")
    run = root / "run"
    args = ["train", "toy", *TINY, "--steps", "4", "--checkpoint-every", "2"]
    assert main([*args, "--out", str(run)]) == 0
    assert main(["export", str(run), "--out", str(root / "saved")]) == 0
    (root / "text.txt").write_text("the quick brown fox jumps over the lazy dog. " * 20)
    return root


def truncate(path: Path, size: int = 20) -> None:
    with open(path, "r+b") as stream:
        stream.truncate(size)


def read_only(folder: Path) -> Path:
    """Makes `folder` a place nothing can be written to: chmod where the tests do not run as
    root, the immutable attribute where they do."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
    elif shutil.which("chattr"):
        subprocess.run(["chattr", "+i", str(folder)], check=False, capture_output=True)
    try:
        (folder / "probe").touch()
    except OSError:
        return folder
    (folder / "probe").unlink()
    pytest.skip("no way to make a read-only folder here (root without chattr +i)")


def writable_again(folder: Path) -> None:
    if os.geteuid() == 0 and shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(folder)], check=False, capture_output=True)
    else:
        folder.chmod(0o755)


class Places:
    """The files and folders a case names, made on demand in the test's own folder."""

    def __init__(self, tmp: Path, base: Path) -> None:
        self.tmp, self.base, self.made_read_only = tmp, base, []

    def __getitem__(self, key: str) -> str:
        return str(getattr(self, f"_{key}")())

    def _copy(self, name: str) -> Path:
        target = self.tmp / name
        if not target.exists():
            shutil.copytree(self.base / "run", target)
        return target

    def _tmp(self):
        return self.tmp

    def _text(self):
        return self.base / "text.txt"

    def _run(self):
        return self._copy("run")

    def _saved(self):
        return self.base / "saved"

    def _file(self):
        path = self.tmp / "a-file.txt"
        path.write_text("not a folder\n")
        return path

    def _dir(self):
        path = self.tmp / "a-folder"
        path.mkdir(exist_ok=True)
        return path

    def _full(self):
        path = self._dir()
        (path / "keep.txt").write_text("kept\n")
        return path

    def _empty(self):
        path = self.tmp / "empty.txt"
        path.touch()
        return path

    def _binary(self):
        path = self.tmp / "binary.bin"
        path.write_bytes(bytes(range(256)) * 4)
        return path

    def _fifo(self):
        path = self.tmp / "fifo"
        os.mkfifo(path)
        return path

    def _ro(self):
        folder = read_only(self.tmp / "locked")
        self.made_read_only.append(folder)
        return folder

    def _bare(self):  # a folder that is no run
        path = self.tmp / "bare"
        path.mkdir()
        (path / "notes.txt").write_text("mine\n")
        return path

    def _damaged(self):  # every checkpoint truncated
        run = self._copy("damaged")
        for data in (run / "checkpoints").glob("*.data-*"):
            truncate(data)
        return run

    def _badjson(self):
        run = self._copy("badjson")
        text = (run / "config.json").read_text()
        (run / "config.json").write_text(text[: len(text) // 2])
        return run

    def _listjson(self):
        run = self._copy("listjson")
        (run / "config.json").write_text("[1, 2, 3]\n")
        return run

    def _badmodel(self):  # no checkpoint, a truncated model.keras
        run = self._copy("badmodel")
        shutil.rmtree(run / "checkpoints")
        truncate(run / "model.keras", 100)
        return run

    def _nometrics(self):
        run = self._copy("nometrics")
        (run / "metrics.csv").unlink()
        return run

    def _badsaved(self):
        saved = self.tmp / "badsaved"
        shutil.copytree(self.base / "saved", saved)
        truncate(saved / "saved_model.pb", 50)
        return saved


def snapshot(*folders: Path) -> dict[str, tuple[int, str]]:
    """Every file under `folders`: its size and the sha256 of its bytes."""
    files = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                files[str(path)] = (
                    path.stat().st_size,
                    hashlib.sha256(path.read_bytes()).hexdigest(),
                )
            elif path.is_dir():
                files[str(path)] = (-1, "")
    return files


# (id, command line with {places}, exit code, words the one line holds)
CASES = [
    # train: files and folders
    ("train-out-is-a-file", "train toy --out {file}", 2, "is a file, not a folder"),
    ("train-out-under-a-file", "train toy --out {file}/run", 1, "is a file, not a folder"),
    ("train-out-read-only", "train toy --out {ro}/run", 1, "choose a place"),
    ("train-out-existing-run", "train toy --out {run}", 2, "--resume to continue"),
    ("train-out-a-users-folder", "train toy --out {full}", 2, "--force to replace"),
    ("train-force-a-users-folder", "train toy --out {full} --force", 2, "is not a run folder"),
    ("train-data-missing", "train text --data {tmp}/missing.txt", 2, "no such file"),
    ("train-data-folder", "train text --data {dir}", 2, "is a directory"),
    ("train-data-empty", "train text --data {empty}", 2, "the file is empty"),
    ("train-data-binary", "train text --data {binary}", 2, "UTF-8"),
    ("train-data-fifo", "train text --data {fifo}", 2, "not a regular file"),
    ("train-text-without-data", "train text", 2, "needs the setting --data"),
    ("train-data-for-toy", "train toy --data {text}", 2, "belong to the text task"),
    ("train-seq-len-too-long", "train text --data {text} --seq-len 5000", 2, "too few"),
    ("train-seq-len-zero", "train text --data {text} --seq-len 0", 2, "--seq-len must be"),
    (
        "train-mode-unknown",
        "train text --data {text} --mode diagonal",
        2,
        "'diagonal' is not one of 'sequential'",
    ),
    (
        "train-val-chars-word",
        "train text --data {text} --val-chars few",
        2,
        "--val-chars (or all) must be",
    ),
    (
        "train-val-chars-tiny",
        "train text --data {text} --val-chars 3",
        2,
        "must be an integer >= 26",
    ),
    ("train-val-chars-for-toy", "train toy --val-chars 100", 2, "belong to the text task"),
    # train: settings and numbers
    ("train-task-unknown", "train sorting", 2, "unknown task 'sorting'"),
    ("train-set-unknown-key", "train adder --set nosuchkey=1", 2, "train_digits=1..5"),
    ("train-set-no-equals", "train adder --set train_digits", 2, "--set takes KEY=VALUE"),
    ("train-set-range-reversed", "train adder --set test_digits=9..1", 2, "low <= high"),
    ("train-set-range-words", "train adder --set test_digits=a..b", 2, "low..high"),
    ("train-set-not-a-number", "train palindrome --set length=many", 2, "must be an integer >= 2"),
    (
        "train-cell-unknown",
        "train toy --cell transformer",
        2,
        "'transformer' is not one of 'vanilla'",
    ),
    ("train-units-zero", "train toy --units 0", 2, "units must be an integer >= 1"),
    ("train-layers-negative", "train toy --layers -1", 2, "layers must be"),
    ("train-batch-zero", "train toy --batch-size 0", 2, "batch-size must be"),
    ("train-batch-absurd", "train adder --batch-size 3000000000", 2, "largest --batch-size"),
    ("train-units-absurd", "train adder --units 10000000", 2, "lower --units or --layers"),
    (
        "train-embedding-absurd",
        "train toy --embedding-dim 1000000000",
        2,
        "lower --embedding-dim, --units or --layers",
    ),
    (
        "train-batch-long-test",
        "train adder --batch-size 1000000 --set test_digits=1..100000",
        2,
        "of a test batch",
    ),
    ("train-steps-word", "train toy --steps many", 2, "Invalid value for '--steps'"),
    ("train-lr-negative", "train toy --lr -1", 2, "--lr must be > 0"),
    ("train-epochs-zero", "train text --data {text} --epochs 0", 2, "--epochs must be an integer"),
    ("train-epochs-and-steps", "train text --data {text} --epochs 2 --steps 9", 2, "pass one"),
    ("train-epochs-adder", "train adder --epochs 2", 2, "so it has no epochs"),
    ("train-schedule-unknown", "train toy --schedule linear", 2, "'linear' is not one of"),
    ("train-min-lr-above", "train toy --schedule cosine --min-lr 1", 2, "must be below --lr"),
    ("train-warmup-negative", "train toy --warmup-steps -3", 2, "--warmup-steps must be"),
    ("train-patience-zero", "train toy --patience 0", 2, "--patience must be an integer >= 1"),
    ("train-patience-no-validation", "train toy --patience 2 --steps 50", 2, "--patience counts"),
    ("train-export-weights-bad", "train toy --export-weights middle", 2, "'middle' is not one"),
    ("train-lr-nan", "train toy --lr nan", 2, "--lr must be > 0"),
    ("train-lr-decay-zero", "train toy --lr-decay 0", 2, "lr-decay must lie in"),
    ("train-dropout-one", "train toy --dropout 1", 2, "dropout must lie in"),
    ("train-clip-negative", "train toy --clip-norm -1", 2, "clip-norm must be >= 0"),
    ("train-temperature-negative", "train toy --temperature -1", 2, "temperature must be"),
    ("train-optimizer-unknown", "train toy --optimizer lbfgs", 2, "'lbfgs' is not one of 'sgd'"),
    ("train-strategy-unknown", "train toy --strategy tpu", 2, "'tpu' is not one of 'auto'"),
    ("train-chrono-one", "train toy --chrono-init 1", 2, "chrono-init must be 0"),
    ("train-chrono-vanilla", "train toy --cell vanilla --chrono-init 50", 2, "has none"),
    ("train-cpu-devices-zero", "train toy --cpu-devices 0", 2, "--cpu-devices must be"),
    # train --resume: damaged runs
    ("resume-missing", "train --resume {tmp}/missing", 2, "not a run folder"),
    ("resume-a-folder", "train --resume {bare}", 2, "not a run folder"),
    ("resume-and-force", "train --resume {run} --force", 2, "pass one"),
    ("resume-with-settings", "train --resume {run} --steps 9", 2, "so --steps would be ignored"),
    ("resume-with-a-task", "train text --resume {run}", 2, "the task text would be ignored"),
    ("resume-all-damaged", "train --resume {damaged}", 1, "all 2 checkpoints are damaged"),
    ("resume-config-cut", "train --resume {badjson}", 2, "not valid JSON at line"),
    ("resume-config-a-list", "train --resume {listjson}", 2, "not a run's settings"),
    # eval and plot
    ("eval-missing", "eval {tmp}/missing", 2, "no such run folder"),
    ("eval-a-file", "eval {file}", 2, "no such run folder"),
    ("eval-a-folder", "eval {bare}", 2, "not a run folder"),
    ("eval-split-unknown", "eval {run} --split train", 2, "Invalid value for '--split'"),
    ("eval-samples-negative", "eval {run} --samples -1", 2, "--samples must be an integer >= 0"),
    ("eval-all-damaged", "eval {damaged}", 1, "all 2 checkpoints are damaged"),
    ("eval-config-cut", "eval {badjson}", 2, "not valid JSON at line"),
    ("eval-model-cut", "eval {badmodel}", 1, "model.keras: damaged"),
    ("plot-missing", "plot {tmp}/missing", 2, "not a run folder"),
    ("plot-no-metrics", "plot {nometrics}", 2, "has no metrics yet"),
    ("plot-out-read-only", "plot {run} --out {ro}/curves.png", 1, "choose a place"),
    ("plot-out-under-a-file", "plot {run} --out {file}/curves.png", 1, "is a file, not a folder"),
    ("plot-out-exists", "plot {run} --out {file}", 2, "already exists"),
    # export
    ("export-missing", "export {tmp}/missing", 2, "no such run folder"),
    ("export-weights-unknown", "export {run} --weights middle", 2, "'middle' is not one of"),
    ("export-out-exists", "export {run} --out {full}", 2, "--force to replace"),
    ("export-force-a-users-folder", "export {run} --out {full} --force", 2, "not a SavedModel"),
    ("export-force-the-run", "export {run} --out {run} --force", 2, "is the run to export"),
    ("export-force-its-parent", "export {run} --out {run}/.. --force", 2, "holds"),
    ("export-out-read-only", "export {run} --out {ro}/model", 1, "choose a place"),
    ("export-out-is-a-file", "export {run} --out {file}", 2, "is a file, not a folder"),
    ("export-all-damaged", "export {damaged} --out {tmp}/model", 1, "checkpoints are damaged"),
    # sample
    ("sample-missing", "sample {tmp}/missing", 2, "no such folder"),
    ("sample-a-file", "sample {file}", 2, "a file, not a folder"),
    ("sample-prime-unknown-saved", "sample {saved} --prime €", 2, "outside the model's vocab"),
    ("sample-prime-unknown-run", "sample {run} --prime €", 2, "outside the model's vocab"),
    ("sample-length-negative", "sample {saved} --length -1", 2, "length must lie in"),
    ("sample-length-absurd", "sample {saved} --length 100000000", 2, "length must lie in"),
    ("sample-temperature-negative", "sample {saved} --temperature -1", 2, "temperature must"),
    ("sample-top-p-zero", "sample {saved} --top-p 0", 2, "top-p"),
    # numbers typed twice over are kept as typed around the flags the message names
    ("sample-top-p-and-k", "sample {saved} --top-p 0 --top-k 1", 2, "(0, 1] (1 keeps every"),
    ("sample-temperature-inf", "sample {saved} --temperature inf", 2, "a finite number >= 0"),
    ("sample-num-samples-zero", "sample {saved} --num-samples 0", 2, "num-samples"),
    ("sample-num-samples-absurd", "sample {saved} --num-samples 10000000000", 2, "largest"),
    ("sample-run-absurd", "sample {run} --num-samples 9000000000 --length 90000", 2, "largest"),
    ("sample-output-exists", "sample {saved} --output {file}", 2, "already exists"),
    ("sample-output-a-folder", "sample {saved} --output {dir}", 2, "already exists"),
    ("sample-output-read-only", "sample {saved} --output {ro}/s.txt", 1, "choose a place"),
    ("sample-saved-damaged", "sample {badsaved}", 1, "damaged"),
    ("sample-run-all-damaged", "sample {damaged}", 1, "all 2 checkpoints are damaged"),
    # the other commands
    ("sample-seed-too-large", "sample {run} --seed 99999999999999999999", 2, "4294967295"),
    ("train-seed-negative", "train toy --seed -1", 2, "--seed must lie in [0, 4294967295]"),
    ("gradcheck-cell-unknown", "gradcheck --cell transformer", 2, "unknown cell"),
    ("gradcheck-seq-lens-words", "gradcheck --seq-lens a,b", 2, "seq-lens"),
    ("gradcheck-run-missing", "gradcheck --run {tmp}/missing", 2, "not a run folder"),
    ("gradcheck-json-exists", "gradcheck --cell vanilla --json {file}", 2, "already exists"),
    ("bench-json-exists", "bench --sections seeds --json {file}", 2, "already exists"),
    ("bench-cells-unknown", "bench --cells transformer", 2, "unknown cell transformer"),
    ("bench-sections-unknown", "bench --sections speed", 2, "unknown section speed"),
    ("experiment-unknown", "experiment sorting", 2, "sorting"),
    ("experiment-needs-data", "experiment optimizers --quick --out {tmp}/e", 2, "--data"),
    ("experiment-out-a-file", "experiment adder --quick --out {file}", 2, "--out takes a folder"),
    ("experiment-data-unread", "experiment adder --out {tmp}/e --data {text}", 2, "reads no text"),
    ("experiment-runs-none", "experiment adder --quick --out {tmp}/e --runs x", 2, "run keys: "),
    ("experiment-runs-no-runs", "experiment gradcheck --out {tmp}/e --runs x", 2, "trains no"),
    ("data-fetch-unknown", "data fetch nosuch", 2, "unknown corpus 'nosuch'"),
    ("tasks-unknown", "tasks sorting", 2, "unknown task 'sorting'"),
]


@pytest.mark.parametrize(
    ("args", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_line_an_exit_code_and_nothing_changed(
    base, tmp_path, capsys, monkeypatch, args, code, words
):
    monkeypatch.delenv("SEQRNN_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)  # default outputs (saved_models/, runs/) land here
    places = Places(tmp_path / "places", base)
    places.tmp.mkdir()
    argv = [part.format_map(places) for part in args.split(" ")]
    before = snapshot(places.tmp, base)
    capsys.readouterr()
    try:
        assert main(argv) == code
    finally:
        for folder in places.made_read_only:
            writable_again(folder)
    said = capsys.readouterr().err
    err = said.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 and said == err + "\n", repr(said)
    assert err.startswith("seqrnn: error: ") and words in err, err
    assert snapshot(places.tmp, base) == before
    assert not (tmp_path / "runs").exists() and not (tmp_path / "saved_models").exists()


def test_the_table_covers_every_command_and_sixty_inputs():
    commands = {args.split()[0] for _, args, _, _ in CASES}
    assert commands == {"train", "eval", "plot", "export", "sample", "gradcheck", "bench"} | {
        "experiment",
        "data",
        "tasks",
    }
    assert len(CASES) >= 60


def test_a_full_disk_during_training_is_one_line_and_exit_1(tmp_path, capsys):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        args = ["train", "toy", "--units", "64", "--steps", "4", "--checkpoint-every", "2"]
        assert main([*args, "--no-export", "--out", str(disk / "run")]) == 1
    finally:
        subprocess.run(["umount", str(disk)], check=False)
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(lines) == 1 and "no space left on the device" in lines[0], lines
    assert "function_node" not in lines[0] and "Traceback" not in lines[0]
