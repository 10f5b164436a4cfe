"""The generated tasks against their definitions: adder, palindrome, grammars, frequency."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from seqrnn.errors import UsageError
from seqrnn.tasks import (
    TASKS,
    AdderTask,
    BracketsTask,
    FrequencyTask,
    NDFATask,
    PalindromeTask,
    ToyTask,
    adder_accuracy,
    make_task,
)
from seqrnn.tasks.adder import to_int
from seqrnn.tasks.grammars import END, PAD, START


def first(task, split="train", batch_size=16, count=20, seed=0):
    return list(itertools.islice(task.batches(split, batch_size, seed), count))


class TestAdder:
    def test_every_target_is_the_integer_sum(self):
        task = AdderTask(train_digits=(1, 12))
        for inputs, targets, weights in first(task):
            for pair, target, weight in zip(inputs["digits"], targets, weights, strict=True):
                steps = int(weight.sum())
                a, b = to_int(pair[:steps, 0]), to_int(pair[:steps, 1])
                assert to_int(target[:steps]) == a + b
                assert (pair[steps - 1] == 0).all()  # the extra step for the final carry
                assert (pair[steps:] == 0).all() and (target[steps:] == 0).all()
                assert steps == max(len(str(a)), len(str(b))) + 1

    def test_digit_ranges_per_split(self):
        task = AdderTask(train_digits=(2, 3), test_digits=(40, 50))
        train_steps = {int(w.sum()) for _, _, ws in first(task) for w in ws}
        test_steps = {int(w.sum()) for _, _, ws in first(task, "test", count=5) for w in ws}
        assert train_steps <= {3, 4} and test_steps <= set(range(41, 52))
        assert len(first(task, "test", count=100)) == task.num_eval_batches

    def test_accuracy(self):
        targets = np.array([[5, 2, 1], [7, 0, 0]])
        weights = np.array([[1, 1, 1], [1, 1, 0]], np.float32)
        predicted = np.array([[5, 2, 1], [7, 1, 9]])  # second sum wrong in one real digit
        result = adder_accuracy(predicted, targets, weights)
        assert result == {"exact_match": 0.5, "digit_accuracy": 4 / 5}

    @pytest.mark.parametrize("setting", [{"train_digits": (0, 5)}, {"test_digits": (9, 3)}])
    def test_bad_settings(self, setting):
        with pytest.raises(UsageError, match="low <= high"):
            AdderTask(**setting)


class TestPalindrome:
    @pytest.mark.parametrize("length", [2, 3, 10, 201])
    def test_every_sequence_is_a_palindrome(self, length):
        for inputs, targets, _ in first(PalindromeTask(length=length), count=5):
            whole = np.concatenate([inputs["tokens"], targets[:, None]], axis=1)
            assert whole.shape[1] == length
            np.testing.assert_array_equal(whole, whole[:, ::-1])
            assert whole.min() >= 0 and whole.max() <= 9

    def test_too_short(self):
        with pytest.raises(UsageError, match="length \\(T\\) must be an integer >= 2, got 1"):
            PalindromeTask(length=1)


GRAMMARS = [NDFATask, BracketsTask, ToyTask]


@pytest.mark.parametrize("task_class", GRAMMARS)
class TestGrammars:
    def test_generated_strings_are_accepted(self, task_class):
        task = task_class()
        rng = np.random.default_rng(5)
        texts = [task.sample(rng) for _ in range(500)]
        assert task.valid_fraction(texts) == 1.0
        assert len(set(texts)) > 5

    def test_corrupted_strings_are_rejected(self, task_class):
        task = task_class()
        rng = np.random.default_rng(6)
        rejected = total = 0
        for _ in range(300):
            text = task.sample(rng)
            i = int(rng.integers(len(text)))
            for corrupted in (text[:i] + text[i + 1 :], text + text[-1], text[:i]):
                if corrupted != text:
                    total += 1
                    rejected += not task.accepts(corrupted)
        # Deleting or appending a character, or cutting the string, breaks it almost always;
        # the rare survivors are themselves sentences (say, a toy clause cut after a noun).
        assert rejected / total > 0.9

    def test_batches_are_start_text_end_with_masked_padding(self, task_class):
        task = task_class(max_tokens=300)
        for inputs, targets, weights in first(task, batch_size=8, count=10):
            tokens = inputs["tokens"]
            assert (tokens.shape[0] <= 8 and tokens.size <= 300) or tokens.shape[0] == 1
            for row_in, row_out, row_w in zip(tokens, targets, weights, strict=True):
                n = int(row_w.sum())
                assert row_in[0] == START and row_out[n - 1] == END
                np.testing.assert_array_equal(row_in[1:n], row_out[: n - 1])
                assert (row_out[n:] == PAD).all() and (row_in[n:] == PAD).all()
                assert task.accepts(task.decode(row_out[:n]))


def test_specific_strings():
    assert NDFATask().accepts("sabc!abc!s") and not NDFATask().accepts("sabc!uvw!s")
    assert not NDFATask().accepts("ss")
    assert BracketsTask().accepts("(()())") and not BracketsTask().accepts("()()")
    toy = ToyTask()
    assert toy.accepts("the small cat sees a dog with every garden")
    assert toy.accepts("( a man walked quickly ) and every bunny likes the dog")
    assert not toy.accepts("the cat")
    assert not toy.accepts("the cat sees  a dog")
    assert not toy.accepts("( a man walked")


class TestFrequency:
    @pytest.mark.parametrize("regime", ["1ms", "0.1ms", "async"])
    def test_labels_match_the_periods(self, regime):
        task = FrequencyTask(regime=regime)
        rng = np.random.default_rng(0)
        (inputs, targets, _), periods = task.sample_batch(rng, 64)
        np.testing.assert_array_equal(targets, (periods >= 5) & (periods <= 6))
        assert targets.mean() >= 0.5  # half of each batch is forced into the band
        mask, times = inputs["mask"], inputs["times"]
        # Padded to the regime's longest sample, whatever this batch drew.
        longest = 1250 if regime == "0.1ms" else 125
        assert mask.shape == times.shape == inputs["values"].shape[:2] == (64, longest)
        for row in range(64):
            t = times[row][mask[row]]
            assert np.all(np.diff(t) > 0)
            assert 15 <= len(t) <= (1250 if regime == "0.1ms" else 125)
            if regime != "async":
                np.testing.assert_allclose(np.diff(t), float(regime[:-2]), atol=1e-9)

    def test_values_are_a_unit_sine_wave_of_the_period(self):
        task = FrequencyTask(regime="async")
        (inputs, _, _), periods = task.sample_batch(np.random.default_rng(1), 8)
        for row in range(8):
            t = inputs["times"][row][inputs["mask"][row]]
            v = inputs["values"][row, : len(t), 0].astype(np.float64)
            # Any phase: v = A sin(w t) + B cos(w t) exactly, with A^2 + B^2 = 1.
            w = 2 * np.pi / periods[row]
            basis = np.stack([np.sin(w * t), np.cos(w * t)], axis=1)
            (a, b), *_ = np.linalg.lstsq(basis, v, rcond=None)
            np.testing.assert_allclose(basis @ [a, b], v, atol=1e-5)
            assert np.hypot(a, b) == pytest.approx(1.0, abs=1e-5)

    def test_bad_regime(self):
        with pytest.raises(UsageError, match=r"regime must be one of 1ms, 0\.1ms, async"):
            FrequencyTask(regime="10ms")
        with pytest.raises(UsageError, match=r"time_features must be one of elapsed\+gap, elapsed"):
            FrequencyTask(time_features="raw")


@pytest.mark.parametrize("name", [n for n in TASKS if n != "text"])
def test_deterministic_given_the_seed(name):
    task = make_task(name)
    for a, b in zip(first(task, count=5, seed=3), first(task, count=5, seed=3), strict=True):
        for name_ in a[0]:
            np.testing.assert_array_equal(a[0][name_], b[0][name_])
        np.testing.assert_array_equal(a[1], b[1])
    other = first(task, count=1, seed=4)[0]
    assert not np.array_equal(other[1], first(task, count=1, seed=3)[0][1])


@pytest.mark.parametrize("name", [n for n in TASKS if n != "text" and TASKS[n].fixed_shapes])
@pytest.mark.parametrize("split", ["train", "validation"])
def test_tasks_of_fixed_shapes_keep_every_batch_the_same_shape(name, split):
    # The trainer compiles the loops of these tasks with XLA for the first batch's shape.
    shapes = {
        (*((key, array.shape) for key, array in sorted(inputs.items())), targets.shape)
        for inputs, targets, _ in first(make_task(name), split=split, count=10)
    }
    assert len(shapes) == 1, shapes


def test_unknown_task_and_settings():
    with pytest.raises(UsageError, match="unknown task 'sorting'; choose one of text, adder"):
        make_task("sorting")
    with pytest.raises(
        UsageError,
        match=r"task palindrome has no setting digits; its settings \(with their defaults\) are "
        r"length=10, num_eval_batches=10 ",
    ):
        make_task("palindrome", digits=3)


def test_every_setting_of_every_task_has_a_meaning_and_a_default_as_typed():
    from seqrnn.tasks import task_settings

    for name in TASKS:
        for key, default, meaning in task_settings(name):
            assert meaning, (name, key)
            assert default == "required" or "(" not in default, (name, key, default)
    assert ("test_digits", "1..100") in [row[:2] for row in task_settings("adder")]
