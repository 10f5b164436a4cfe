"""A task defined here, in a few lines, and nowhere else: `seqrnn train`, `eval`, `export` and
`sample` run it through the methods `Task` declares (its data, its metric, its prompt, its
serving signature), without a change to any file of the package."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from cli.main import main
from seqrnn.tasks import TASKS, Task, register
from seqrnn.tasks.base import Batch, check_int, setting

pytestmark = pytest.mark.tf_only

LETTERS = "abcd"
VOCABULARY = (*LETTERS, "=", ".")
EQUALS, STOP = VOCABULARY.index("="), VOCABULARY.index(".")


@dataclass
class ReverseTask(Task):
    """Read a word and "=", then write the word backwards and ".": `abc=cba.`."""

    length: int = setting(3, "letters per word")
    num_eval_batches: int = setting(2, "batches in each validation and test pass")

    name: ClassVar[str] = "reverse"
    summary: ClassVar[str] = "write a word backwards; the fraction of words reversed exactly"
    input_kind: ClassVar[str] = "tokens"
    per_step: ClassVar[bool] = True
    fixed_shapes: ClassVar[bool] = True
    vocabulary: ClassVar[tuple[str, ...]] = VOCABULARY
    num_classes: ClassVar[int] = len(VOCABULARY)
    vocab_size: ClassVar[int] = len(VOCABULARY)
    stop_id: ClassVar[int] = STOP
    shown_metrics: ClassVar[dict[str, str]] = {"reversed": "rev"}

    def __post_init__(self) -> None:
        check_int("length", self.length, 1)

    def batch(self, rng: np.random.Generator, batch_size: int) -> Batch:
        words = rng.integers(0, len(LETTERS), size=(batch_size, self.length))
        rows = np.concatenate(
            [
                words,
                np.full((batch_size, 1), EQUALS),
                words[:, ::-1],
                np.full((batch_size, 1), STOP),
            ],
            axis=1,
        ).astype(np.int32)
        weights = np.zeros(rows[:, 1:].shape, np.float32)
        weights[:, self.length :] = 1.0  # only the reversal and the stop can be predicted
        return {"tokens": rows[:, :-1]}, rows[:, 1:], weights

    def batches(self, split: str, batch_size: int, seed: int) -> Iterator[Batch]:
        return self.generated(split, seed, lambda rng: self.batch(rng, batch_size))

    def longest_batch(self, batch_size: int, split: str = "train") -> tuple[int, int]:
        return batch_size, 2 * self.length + 1

    def default_prime_text(self) -> str:
        return LETTERS[: self.length] + "="

    def count(self, predicted, targets, weights) -> dict:
        whole = ((predicted == targets) | (weights == 0)).all(axis=1)
        return {"reversed": int(whole.sum()), "rows": len(targets)}

    def metrics(self, loss: float, counts: dict) -> dict:
        return {"reversed": counts.get("reversed", 0) / max(counts.get("rows", 0), 1)}

    def serving(self, kit):
        import tensorflow as tf

        def serve(word):
            out, lengths = kit.generator.generate_ids(
                kit.encode(tf.strings.join([word, "="])),
                tf.constant(self.length + 1),
                tf.constant(0.0),  # greedy
                tf.constant(0),
                tf.constant(1.0),
                tf.constant([0, 0], tf.int64),
                tf.constant(1),
                self.stop_id,
            )
            return {"reversal": kit.decode(out, lengths)[0]}

        return serve, [tf.TensorSpec([], tf.string, name="word")]


@pytest.fixture
def reverse_task():
    register(ReverseTask)
    yield ReverseTask
    TASKS.pop(ReverseTask.name)


def test_the_metric_counts_whole_reversals():
    task = ReverseTask()
    _, targets, weights = task.batch(np.random.default_rng(0), 8)
    predicted = targets.copy()
    predicted[:3, 0] = (predicted[:3, 0] + 1) % 4  # a wrong guess of the unpredictable word
    assert task.metrics(0.0, task.count(predicted, targets, weights)) == {"reversed": 1.0}
    predicted[:3, -2] = (predicted[:3, -2] + 1) % 4  # the last letter of 3 reversals wrong
    assert task.metrics(0.0, task.count(predicted, targets, weights)) == {"reversed": 5 / 8}


def test_train_eval_export_sample_a_task_defined_in_a_test(
    reverse_task, tmp_path, monkeypatch, capsys
):
    import tensorflow as tf

    from seqrnn.restore import load_run
    from seqrnn.training.evaluate import Evaluator

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "reverse"
    args = ["train", "reverse", "--steps", "60", "--units", "24", "--embedding-dim", "8"]
    assert main([*args, "--eval-every", "30", "--sample-every", "30", "--out", str(run)]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert trained["metrics"]["reversed"] is not None
    header = (run / "metrics.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "val_reversed" in header  # the task's own metric has a column of its own

    assert main(["eval", str(run), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    # The same metric, counted here from the model's own predictions on the same batches.
    loaded = load_run(run)
    evaluator = Evaluator(loaded.model, loaded.task, loaded.config.batch_size, 0)
    whole = rows = 0
    for inputs, targets, weights in loaded.task.batches("test", loaded.config.batch_size, 0):
        predicted = np.argmax(loaded.model(inputs, training=False), axis=-1)
        whole += int(((predicted == targets) | (weights == 0)).all(axis=1).sum())
        rows += len(targets)
    assert evaluated["reversed"] == pytest.approx(whole / rows)
    assert evaluator.evaluate("test")["reversed"] == pytest.approx(whole / rows)

    saved = tmp_path / "saved_models" / "reverse"
    assert main(["export", str(run), "--out", str(saved), "--force"]) == 0
    capsys.readouterr()
    served = tf.saved_model.load(str(saved)).signatures["serving_default"]
    reversal = served(word=tf.constant("abc"))["reversal"].numpy().decode()
    assert set(reversal) <= set(LETTERS) and len(reversal) <= 3

    # The serving signature and both sampling paths agree on the greedy reversal.
    for model in (run, saved):
        command = ["sample", str(model), "--prime", "abc=", "--temperature", "0", "--length", "4"]
        assert main(command) == 0
        assert capsys.readouterr().out == f"abc={reversal}\n"
    assert main(["sample", str(run)]) == 0  # the task's default prime
    assert capsys.readouterr().out.startswith("abc=")
