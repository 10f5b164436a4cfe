"""The memory estimate behind refusing batches and generations that cannot fit."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli.settings import library_module
from cli.train import TEXT_OPTIONS
from seqrnn.errors import UsageError
from seqrnn.models import CELLS
from seqrnn.settings import TrainConfig
from seqrnn.tasks import TextTask, make_task
from seqrnn.training.memory import (
    check_fits,
    check_generation_fits,
    estimate_generation,
    estimate_step,
)
from tests.conftest import shakespeare


def largest(message: str) -> int:
    return int(re.search(r"about ([\d,]+)", message.split("largest")[1]).group(1).replace(",", ""))


@pytest.mark.parametrize("cell", ["vanilla", "lstm", "gru", "phased"])
def test_the_estimate_grows_with_batch_units_layers_and_steps(cell):
    task = make_task("adder")
    config = TrainConfig(task="adder", cell=cell, batch_size=32)
    base = estimate_step(config, task).total
    for change in ({"batch_size": 64}, {"units": 256}, {"layers": 2}):
        assert estimate_step(dataclasses.replace(config, **change), task).total > base
    longer = make_task("adder", train_digits=(1, 50))
    assert estimate_step(config, longer).total > base
    # a test pass over 100-digit numbers keeps no activations for a backward pass
    assert (
        estimate_step(config, task, "test").per_row
        < 2 * estimate_step(config, task).per_row * 101 / 6
    )


def test_a_batch_that_cannot_fit_is_refused_with_the_largest_that_fits():
    task = make_task("adder")
    config = TrainConfig(task="adder", batch_size=1_000_000)
    available = 2**30
    with pytest.raises(UsageError, match=r"needs about .* and this machine has 1.0 GiB") as error:
        check_fits(config, task, available=available)
    fits = largest(str(error.value))
    assert fits > 0
    check_fits(dataclasses.replace(config, batch_size=fits), task, available=available)
    with pytest.raises(UsageError):
        check_fits(dataclasses.replace(config, batch_size=int(fits * 1.1) + 1), task, available)


def test_a_generation_that_cannot_fit_is_refused_with_the_largest_that_fits():
    available = 2**30
    with pytest.raises(UsageError, match="num_samples 10,000,000 of 1,000") as error:
        check_generation_fits(10_000_000, 1000, 128, 2, 65, available=available)
    fits = largest(str(error.value))
    assert estimate_generation(fits, 1000, 128, 2, 65) <= available
    assert estimate_generation(fits + 1, 1000, 128, 2, 65) > available * 0.99


def test_a_grammar_batch_is_bounded_by_its_tokens_and_says_so():
    task = make_task("toy")
    small = estimate_step(TrainConfig(batch_size=4096), task).total
    with pytest.warns(UserWarning, match="holds at most max_tokens=4,096 tokens"):
        estimate = check_fits(TrainConfig(batch_size=10_000_000), task, available=2**40)
    assert estimate.total == small


@pytest.mark.parametrize("cell", ["vanilla", "lstm", "gru", "phased"])
@pytest.mark.parametrize("task_name", ["toy", "adder", "palindrome", "frequency", "text"])
def test_the_bound_checked_before_tensorflow_loads_is_below_every_estimate(cell, task_name):
    memory = library_module("training/memory.py", "_seqrnn_memory")  # as the CLI loads it
    task = make_task(task_name, **({"path": shakespeare()} if task_name == "text" else {}))
    for batch, units, layers in ((1, 8, 1), (32, 128, 1), (64, 256, 3), (10**7, 16, 1)):
        config = TrainConfig(task=task_name, cell=cell, batch_size=batch, units=units,
                             layers=layers)  # fmt: skip
        for split in ("train", "test"):
            rows, steps = type(task).batch_shape(batch, {}, split)  # what the CLI asks
            assert (rows, steps) == task.longest_batch(batch, split)
            width = memory.input_width(config.embedding_dim, task.input_kind)
            least = memory.least_step_bytes(rows, units, layers, cell, steps, split, width)
            estimate = estimate_step(config, task, split)
            one_step = memory.least_step_bytes(rows, units, layers, cell, 1, split)
            assert 0 < one_step <= least <= estimate.total
            assert memory.least_fixed_bytes(units, layers, cell, width) <= estimate.fixed
        assert memory.least_fixed_bytes(units, layers, cell) <= estimate.fixed
    assert memory.GATES[cell] == CELLS[cell].cell_class.num_gates
    # What it refuses, and what it blames, in a machine of 1 GiB.
    assert memory.least_refusal(64, 128, 1, cell, available=2**30) is None
    message, settings = memory.least_refusal(10**9, 128, 1, cell, available=2**30)
    largest = int(message.rsplit("below ", 1)[1].replace(",", ""))
    assert settings == ("batch_size",) and memory.least_step_bytes(largest, 128, 1, cell) <= 2**30
    assert memory.least_step_bytes(largest + 1, 128, 1, cell) > 2**30
    message, settings = memory.least_refusal(1, 10**6, 1, cell, available=2**30)
    assert settings == ("units", "layers") and "lower units or layers" in message
    message, settings = memory.least_refusal(1, 8, 1, cell, available=2**30, width=10**8)
    assert settings[0] == "embedding_dim" and "lower embedding_dim, units or layers" in message
    message, settings = memory.least_refusal(
        1, 128, 1, cell, available=2**30, shapes={"train": (1, 10**7)}
    )
    assert settings == ("units", "layers") and "even one row" in message
    # A grammar's batches of a million hold fewer rows; a batch_size up to the largest fits.
    message, _ = memory.least_refusal(
        10**6, 128, 1, cell, available=2**30, shapes={"train": (10**5, 4), "test": (10**5, 2)}
    )
    largest = int(message.rsplit("below ", 1)[1].replace(",", ""))
    assert memory.least_step_bytes(largest, 128, 1, cell, 4) <= 2**30
    # The split that needs more counts: here the test batch, ten times longer, kept once.
    message, _ = memory.least_refusal(
        10**5, 128, 1, cell, available=2**30, shapes={"train": (10**5, 4), "test": (10**5, 40)}
    )
    assert "40 time steps of a test batch" in message


def test_the_text_task_tells_its_batch_shape_without_reading_its_corpus(tmp_path):
    task = make_task("text", path=shakespeare(), seq_len=40)
    assert TextTask.batch_shape(64, {"seq_len": 40}) == task.longest_batch(64, "train")
    missing = str(tmp_path / "nothing.txt")  # no corpus is read
    assert TextTask.batch_shape(64, {"path": missing}) == (64, 25) == (64, TextTask.seq_len)


def test_the_check_before_tensorflow_loads_takes_the_task_s_batch_shapes():
    from cli.train import _refuse_an_absurd_batch, _task_shapes

    values = {"task": "toy", "settings": [], "batch_size": 10**7, "units": 128, "layers": 1,
              "cell": "lstm", "embedding_dim": 64, **dict.fromkeys(TEXT_OPTIONS)}  # fmt: skip
    rows, steps = _task_shapes(values)[0]["train"]  # a grammar's batch holds max_tokens tokens
    assert (rows, steps) == make_task("toy").longest_batch(10**7) and rows < 10**7
    _refuse_an_absurd_batch(values)  # so ten million is no reason to refuse it here
    adder = {**values, "task": "adder", "settings": ["train_digits=1..9", "test_digits=1..99"]}
    assert _task_shapes(adder) == ({"train": (10**7, 10), "test": (10**7, 100)}, "digit_pairs")
    assert _task_shapes({**adder, "settings": ["nosuchkey=1"]}) is None  # the library says
    assert _task_shapes({**values, "task": "text", "seq_len": 70})[0]["train"] == (10**7, 70)


@pytest.mark.parametrize(
    ("argv", "blames"),
    [
        (["adder", "--batch-size", "3000000000"], "time steps of a"),
        # One step of a million rows fits in 10 GiB; 100,001 of them need about 900 TiB.
        (["adder", "--batch-size", "1000000", "--set", "train_digits=1..100000"], "100,001 time"),
        # ... and 100,001 steps of a test batch, kept once, half as much.
        (["adder", "--batch-size", "1000000", "--set", "test_digits=1..100000"], "of a test batch"),
        (["adder", "--embedding-dim", "1000000000"], "lower --embedding-dim, --units or --layers"),
    ],
)
def test_an_absurd_batch_is_refused_before_tensorflow_loads(tmp_path, argv, blames):
    args = ["train", *argv, "--out", str(tmp_path / "r")]
    code = (
        "import sys\n"
        "from cli.main import main\n"
        f"code = main({args!r})\n"
        "print(code, 'tensorflow' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.stdout.split() == ["2", "False"], (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and blames in lines[0], lines
    assert ("largest --batch-size that fits is below" in lines[0]) == ("--batch-size" in argv)
    assert not (tmp_path / "r").exists()


def test_the_tasks_imported_without_keras_are_forgotten_and_the_library_loads_whole_after():
    code = (
        "import sys\n"
        "from cli.settings import library_without_keras\n"
        "with library_without_keras():\n"
        "    from seqrnn.tasks import TASKS\n"
        "    shape = TASKS['adder'].batch_shape(8, {'test_digits': [1, 30]}, 'test')\n"
        "    inside = 'keras' in sys.modules\n"
        "left = sorted(n for n in sys.modules if n.split('.')[0] == 'seqrnn')\n"
        "import keras, seqrnn\n"
        "registered = keras.saving.get_registered_object('seqrnn>LSTM') is seqrnn.LSTM\n"
        "print(shape, inside, left, registered)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.stdout.split("\n")[0] == "(8, 31) False [] True", done.stderr[-2000:]
