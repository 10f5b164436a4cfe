"""The training loop: a custom GradientTape step under a tf.distribute strategy.

One step: every replica computes the loss of its shard of the global batch (weighted by the
task's weights and divided by the global weight, so the replicas' losses add up to the global
mean) and its gradients; the gradients are summed across replicas, clipped (by value, then by
global norm) and applied once, in cross-replica context. The same step therefore gives the same
update on one device and on several.

Exact resume: a checkpoint holds the model, the optimizer, the step and the smooth loss; the
data are regenerated from the seed and the first `step` batches skipped; metrics rows after
the checkpoint are dropped. Checkpoints are written by `tf.train.CheckpointManager`, which
replaces its index atomically, so a kill mid-write leaves the previous checkpoint as latest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seqrnn.errors import SeqrnnError
from seqrnn.training.config import TrainConfig
from seqrnn.training.runs import RunFolder

Event = Callable[[str, dict[str, Any]], None]


class Interrupted(SeqrnnError):
    """Training stopped by Ctrl-C after saving a checkpoint."""


class NonFinite(SeqrnnError):
    """The loss or the gradient norm became NaN or infinite."""


def split_cpu(count: int) -> None:
    """Splits the CPU into `count` logical devices (before TensorFlow runs any op)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    )


def make_strategy(name: str):
    """`auto`: all GPUs mirrored when there are several, else one device (GPU if present)."""
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy(devices=gpus or cpus)
    return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else cpus[0])


def make_optimizer(config: TrainConfig):
    import keras

    lr: Any = config.lr
    if config.lr_decay < 1.0:
        lr = keras.optimizers.schedules.ExponentialDecay(
            config.lr, config.lr_decay_steps, config.lr_decay
        )
    classes = {
        "sgd": keras.optimizers.SGD,
        "adagrad": keras.optimizers.Adagrad,
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return classes[config.optimizer](learning_rate=lr)


@dataclass
class Summary:
    step: int
    loss: float
    val_loss: float | None
    seconds: float


class Trainer:
    """Trains `config` into `run`; reports through `on_event(kind, data)` and never prints."""

    def __init__(
        self,
        config: TrainConfig,
        run: RunFolder,
        resume: bool = False,
        on_event: Event | None = None,
        task: Any = None,
    ) -> None:
        self.config = config
        self.run = run
        self.resume = resume
        self.on_event = on_event or (lambda kind, data: None)
        self.task = task  # built from the config when not given

    def _build(self):
        import keras
        import tensorflow as tf

        from seqrnn.models import build_model
        from seqrnn.tasks import make_task

        config = self.config
        tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(config.seed)
        if self.task is None:
            self.task = make_task(config.task, **config.task_settings)
        self.strategy = make_strategy(config.strategy)
        with self.strategy.scope():
            self.model = build_model(
                self.task,
                config.cell,
                units=config.units,
                num_layers=config.layers,
                embedding_dim=config.embedding_dim,
                dropout=config.dropout,
                seed=config.seed,
            )
            self.optimizer = make_optimizer(config)
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.smooth = tf.Variable(math.nan, dtype=tf.float64, trainable=False, name="smooth")
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, step=self.step, smooth=self.smooth
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(self.run.checkpoints), max_to_keep=3
        )

    def _train_step(self):
        import keras
        import tensorflow as tf

        config, model, strategy = self.config, self.model, self.strategy
        variables = model.trainable_variables
        replicas = strategy.num_replicas_in_sync

        def replica_step(inputs, targets, weights):
            context = tf.distribute.get_replica_context()
            total = context.all_reduce("sum", tf.reduce_sum(weights))
            with tf.GradientTape() as tape:
                logits = model(inputs, training=True)
                losses = keras.losses.sparse_categorical_crossentropy(
                    targets, logits, from_logits=True
                )
                loss = tf.reduce_sum(losses * weights) / tf.maximum(total, 1.0)
                if model.losses:
                    loss += tf.add_n(model.losses) / replicas
            grads = tape.gradient(loss, variables)
            sequences = tf.cast(tf.shape(targets)[0], tf.float32)
            return loss, grads, tf.reduce_sum(weights), sequences

        # Padded batches change shape from step to step: let tf.function generalize the shapes
        # instead of tracing once per shape.
        @tf.function(reduce_retracing=True)
        def train_step(batch):
            loss, grads, tokens, sequences = strategy.run(replica_step, args=batch)
            loss, tokens, sequences = (
                strategy.reduce("sum", v, axis=None) for v in (loss, tokens, sequences)
            )
            grads = [strategy.reduce("sum", g, axis=None) for g in grads]
            if config.clip_value:
                grads = [tf.clip_by_value(g, -config.clip_value, config.clip_value) for g in grads]
            norm = tf.linalg.global_norm(grads)
            if config.clip_norm:
                grads, _ = tf.clip_by_global_norm(grads, config.clip_norm, use_norm=norm)
            self.optimizer.apply_gradients(zip(grads, variables, strict=True))
            return loss, norm, tokens, sequences

        return train_step

    def _eval_step(self):
        import keras
        import tensorflow as tf

        model = self.model

        @tf.function(reduce_retracing=True)
        def eval_step(inputs, targets, weights):
            logits = model(inputs, training=False)
            losses = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
            return tf.reduce_sum(losses * weights), tf.reduce_sum(weights)

        return eval_step

    def validation_loss(self) -> float:
        """Mean loss per weighted target on the task's validation split."""
        total = weight = 0.0
        eval_step = self._eval_fn
        for inputs, targets, weights in self.task.batches(
            "validation", self.config.batch_size, self.config.seed
        ):
            loss_sum, weight_sum = eval_step(inputs, targets, weights)
            total += float(loss_sum)
            weight += float(weight_sum)
        return total / max(weight, 1.0)

    def _save(self, step: int) -> None:
        self.step.assign(step)
        self.manager.save(checkpoint_number=step)

    def train(self) -> Summary:
        import numpy as np
        import tensorflow as tf

        config, run = self.config, self.run
        self._build()
        start = 0
        if self.resume and self.manager.latest_checkpoint:
            self.checkpoint.restore(
                self.manager.latest_checkpoint
            ).assert_existing_objects_matched()
            start = int(self.step.numpy())
        if self.resume:
            run.truncate_metrics(start)
        else:
            vocabulary = getattr(self.task, "vocabulary", None)
            run.config.write_text(config.to_json(vocabulary=vocabulary), encoding="utf-8")
        dataset = self.task.dataset("train", config.batch_size, config.seed).skip(start)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        batches = iter(self.strategy.experimental_distribute_dataset(dataset.with_options(options)))
        train_step = self._train_step()
        self._eval_fn = self._eval_step()
        self.on_event("start", {"step": start, "steps": config.steps, "run": str(run.path)})
        smooth = float(self.smooth.numpy())
        smooth = None if math.isnan(smooth) else smooth
        loss = val_loss = math.nan
        began = time.perf_counter()
        tick, tick_tokens = began, 0.0
        step = start
        try:
            for step in range(start + 1, config.steps + 1):
                loss_t, norm_t, tokens_t, sequences_t = train_step(next(batches))
                loss, norm = float(loss_t), float(norm_t)
                if not (math.isfinite(loss) and math.isfinite(norm)):
                    raise NonFinite(
                        f"the {'loss' if not math.isfinite(loss) else 'gradient norm'} is not "
                        f"finite at step {step}; the last checkpoint is kept; lower --lr or clip "
                        "harder (--clip-norm, --clip-value)"
                    )
                window = loss * float(tokens_t) / max(float(sequences_t), 1.0)
                smooth = window if smooth is None else 0.999 * smooth + 0.001 * window
                tick_tokens += float(tokens_t)
                row = None
                if step % config.log_every == 0 or step == config.steps:
                    now = time.perf_counter()
                    row = {
                        "step": step,
                        "loss": f"{loss:.6f}",
                        "smooth_loss": f"{smooth:.6f}",
                        "grad_norm": f"{norm:.6f}",
                        "tokens_per_s": f"{tick_tokens / max(now - tick, 1e-9):.1f}",
                        "lr": f"{float(np.asarray(self.optimizer.learning_rate)):.6g}",
                    }
                    tick, tick_tokens = now, 0.0
                if step % config.eval_every == 0 or step == config.steps:
                    val_loss = self.validation_loss()
                    tick = time.perf_counter()  # tokens/s counts training time only
                    row = row or {
                        "step": step,
                        "loss": f"{loss:.6f}",
                        "smooth_loss": f"{smooth:.6f}",
                        "grad_norm": f"{norm:.6f}",
                    }
                    row["val_loss"] = f"{val_loss:.6f}"
                if row is not None:
                    run.append_metrics(row)
                    self.on_event("log", {**row, "steps": config.steps})
                if step % config.checkpoint_every == 0 or step == config.steps:
                    self.smooth.assign(smooth)
                    self._save(step)
        except KeyboardInterrupt:
            if step > start:
                self.smooth.assign(smooth if smooth is not None else math.nan)
                self._save(step)
                run.truncate_metrics(step)
            raise Interrupted(
                f"interrupted at step {step}; checkpoint saved; continue with "
                f"seqrnn train --resume {run.path}"
            ) from None
        self.model.save(run.model)
        return Summary(
            step=config.steps,
            loss=loss,
            val_loss=None if math.isnan(val_loss) else val_loss,
            seconds=time.perf_counter() - began,
        )
