"""Loading a run folder back: its settings, its task and its model at its newest intact
checkpoint; what every command that reads a run (eval, export, sample, gradcheck) calls."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from typing import Any

from seqrnn.errors import SeqrnnError, SeqrnnWarning, UsageError
from seqrnn.settings import TrainConfig, Weights
from seqrnn.training.runs import RunFolder


@dataclass
class LoadedRun:
    folder: RunFolder
    config: TrainConfig
    task: Any
    model: Any  # keras.Model with the weights asked for
    step: int  # the step those weights were trained to
    weights: str = "last"  # "best" (the lowest validation loss's) or "last"


def load_run(path: str | os.PathLike, weights: str | None = None) -> LoadedRun:
    """The model of a run: `weights` "best" (its best checkpoint, the lowest validation loss)
    or "last" (its newest intact checkpoint, or its model.keras when it has none); by default
    the run's export_weights. A run with no best checkpoint (never validated, or trained before
    seqrnn kept one) gives its last."""
    import keras
    import tensorflow as tf

    from seqrnn.models import build_run_model
    from seqrnn.tasks import make_task
    from seqrnn.training.checkpoints import BEST, newest_intact

    folder = RunFolder(path)
    if not folder.path.is_dir():
        raise UsageError(f"{folder.path}: no such run folder; give a folder seqrnn train wrote")
    if not folder.config.exists():
        raise UsageError(f"{folder.path} is not a run folder (no config.json)")
    config = TrainConfig.load(folder.config)  # a UsageError naming the file when it is bad
    saved_vocabulary = json.loads(folder.config.read_text(encoding="utf-8")).get("vocabulary")
    task = make_task(config.task, **config.task_settings)
    vocabulary = task.vocabulary
    known = saved_vocabulary is not None and vocabulary is not None
    if known and list(saved_vocabulary) != list(vocabulary):
        raise UsageError(
            f"{config.task_settings.get('path', config.task)} has changed since the run was "
            "trained (its vocabulary differs); restore the file the run was trained on"
        )
    latest, _ = newest_intact(folder.checkpoints)
    if latest is None:
        if folder.model.exists():
            try:
                model = keras.models.load_model(folder.model)
            except Exception as error:  # a truncated zip, a foreign file: what load_model says
                reason = (str(error) or type(error).__name__).strip().splitlines()[0]
                raise SeqrnnError(
                    f"{folder.model}: damaged, it cannot be read ({reason[:200]}); restore it "
                    "from a copy or train the run again"
                ) from None
            if not task.fixed_shapes:  # (a model saved before the layers kept jit_compile)
                for layer in model.layers:
                    if hasattr(layer, "jit_compile") and isinstance(layer, keras.layers.RNN):
                        layer.jit_compile = False
            return LoadedRun(folder, config, task, model, config.steps)
        raise UsageError(f"{folder.path} has no checkpoint yet; train it first")
    weights = Weights(weights or config.export_weights).value
    best = None
    if weights == Weights.BEST:
        try:
            best, _ = newest_intact(folder.checkpoints / BEST)
        except SeqrnnError:  # the one best checkpoint is damaged: the last will do
            warnings.warn(
                SeqrnnWarning(
                    f"{folder.checkpoints / BEST}: the best checkpoint is damaged; using the "
                    "last step's weights"
                ),
                stacklevel=2,
            )
    model = build_run_model(config, task)
    step = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(model=model, step=step).restore(best or latest).expect_partial()
    return LoadedRun(folder, config, task, model, int(step.numpy()), "best" if best else "last")
