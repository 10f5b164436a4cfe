"""The memory estimate behind refusing batches and generations that cannot fit."""

from __future__ import annotations

import dataclasses
import re

import pytest

from seqrnn.errors import UsageError
from seqrnn.settings import TrainConfig
from seqrnn.tasks import make_task
from seqrnn.training.memory import (
    check_fits,
    check_generation_fits,
    estimate_generation,
    estimate_step,
)


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
