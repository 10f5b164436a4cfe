"""One training step: a custom GradientTape step under a tf.distribute strategy.

Every replica computes the loss of its shard of the global batch (weighted by the task's
weights) and its gradients; the gradients are summed across replicas, clipped (by value, then by
global norm) and applied once, in cross-replica context. The same step therefore gives the same
update on one device and on several.

The loss that is differentiated is the weighted sum divided by (rows of the global batch) x (the
task's mean weight per row, measured once on its training stream), not by the batch's own
weight: grammar tasks bucket sentences of similar length into a batch, and dividing by each
batch's token count would give the tokens of short sentences more weight than those of long
ones (a model trained so ends its sentences too early). For fixed-length rows both divisors are
the same. The loss shown and logged is the batch's mean per weighted token.
"""

from __future__ import annotations

import math
import os
from typing import Any

import keras  # (loaded with seqrnn's layers already)

from seqrnn.errors import UsageError
from seqrnn.settings import TrainConfig


def split_cpu(count: int) -> None:
    """Splits the CPU into `count` logical devices (before TensorFlow runs any op)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    )


def check_strategy(name: str) -> None:
    """A `UsageError` when strategy `name` cannot start here (multiworker without TF_CONFIG):
    asked before a run folder is made, so a refused run leaves nothing behind."""
    if name == "multiworker" and not os.environ.get("TF_CONFIG"):
        raise UsageError(
            "the multiworker strategy reads the cluster from TF_CONFIG, which is not set; "
            'set it on every worker (see "Several machines" in README.md)',
            "strategy",
        )


def make_strategy(name: str):
    """`auto`: all GPUs mirrored when there are several, else one device (GPU if present)."""
    import tensorflow as tf

    check_strategy(name)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy(devices=gpus or cpus)
    return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else cpus[0])


def learning_rate(config: TrainConfig):
    """The learning rate of `config`: a number, or a schedule of the optimizer's step count
    (0 before the first update; a resumed run's optimizer restores it, so its schedule goes on
    exactly where it stopped).

    Warm-up: `lr * (n + 1) / warmup_steps` for the first `warmup_steps` updates. After it,
    exponential: `lr * lr_decay ** ((n - warmup_steps) / lr_decay_steps)` (Keras'
    ExponentialDecay without warm-up; constant at lr_decay 1); cosine: `min_lr + (lr - min_lr)
    * (1 + cos(pi * p)) / 2` with `p = (n - warmup_steps) / (steps - warmup_steps - 1)`,
    clipped to [0, 1], so the last update (n = steps - 1) trains at min_lr. (metrics.csv's lr is
    read after each step: the rate of the next one.)
    """
    import keras

    if config.schedule == "exponential" and not config.warmup_steps:
        if config.lr_decay < 1.0:
            return keras.optimizers.schedules.ExponentialDecay(
                config.lr, config.lr_decay_steps, config.lr_decay
            )
        return config.lr
    return WarmupSchedule(
        config.lr,
        config.warmup_steps,
        config.schedule,
        config.lr_decay,
        config.lr_decay_steps,
        config.steps,
        config.min_lr,
    )


class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warm-up, then exponential decay or a cosine (see `learning_rate`)."""

    def __init__(self, lr, warmup_steps, kind, decay, decay_steps, steps, min_lr) -> None:
        self.lr, self.warmup_steps, self.kind = float(lr), int(warmup_steps), str(kind)
        self.decay, self.decay_steps = float(decay), int(decay_steps)
        self.steps, self.min_lr = int(steps), float(min_lr)

    def __call__(self, step):
        from keras import ops

        n = ops.cast(step, "float32")
        after = n - self.warmup_steps
        if self.kind == "cosine":
            span = max(self.steps - self.warmup_steps - 1, 1)
            cosine = 0.5 * (1.0 + ops.cos(math.pi * ops.clip(after / span, 0.0, 1.0)))
            rate = self.min_lr + (self.lr - self.min_lr) * cosine
        else:
            rate = self.lr * ops.power(self.decay, ops.maximum(after, 0.0) / self.decay_steps)
        if not self.warmup_steps:
            return rate
        return ops.where(n < self.warmup_steps, self.lr * (n + 1) / self.warmup_steps, rate)

    def get_config(self) -> dict:
        return {
            "lr": self.lr,
            "warmup_steps": self.warmup_steps,
            "kind": self.kind,
            "decay": self.decay,
            "decay_steps": self.decay_steps,
            "steps": self.steps,
            "min_lr": self.min_lr,
        }


def steps_of(config: TrainConfig, task) -> int:
    """The training steps of `config` on `task`: `steps`, or `epochs` passes over the task's
    training data (a `UsageError` for a task that draws fresh batches for ever, and for a
    patience that no validation could use)."""
    steps = config.steps
    if config.epochs:
        per_pass = task.batches_per_pass(config.batch_size)
        if per_pass is None:
            raise UsageError(
                f"task {task.name} draws fresh batches for ever, so it has no epochs; train it "
                "for a number of steps instead",
                "steps",
            )
        steps = config.epochs * per_pass
        if steps < 1:
            raise UsageError(
                f"an epoch of task {task.name} holds no batch of batch_size {config.batch_size}; "
                "lower batch_size",
                "batch_size",
            )
    if config.patience and config.eval_every >= steps:
        raise UsageError(
            f"patience counts validations, and with eval_every {config.eval_every} and "
            f"{steps} steps there is only the final one; validate more often (a smaller "
            "eval_every) or leave patience out",
            "patience",
            "eval_every",
        )
    return steps


def make_optimizer(config: TrainConfig):
    import keras

    lr: Any = learning_rate(config)
    classes = {
        "sgd": keras.optimizers.SGD,
        "adagrad": keras.optimizers.Adagrad,
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return classes[config.optimizer](learning_rate=lr)


def mean_weight_per_row(task: Any, batch_size: int, seed: int, rows: int = 2048) -> float:
    """The task's mean total weight per row, over the first `rows` rows of its training stream.

    The divisor of the training loss (see the module's docstring): for rows of fixed length it is
    that length, for bucketed sentences the mean number of targets per sentence. Deterministic in
    the seed (the stream is drawn again, apart from the one training reads).
    """
    weight = seen = 0.0
    for _, _, weights in task.batches("train", batch_size, seed):
        weight += float(weights.sum())
        seen += weights.shape[0]
        if seen >= rows:
            break
    return weight / seen if seen and weight else 1.0


def make_train_step(
    config: TrainConfig, model, net, optimizer, strategy, weight_per_row: float, carry: bool
):
    """The step `(batch, states, start) -> (loss, grad norm, tokens, rows, states)` for `net`
    (the model, or the model that carries states when `carry`; `start` is the time step the
    batch begins at, for a Phased LSTM that carries its state)."""
    import keras
    import tensorflow as tf

    variables = model.trainable_variables
    replicas = strategy.num_replicas_in_sync
    timed = carry and "start" in net.input

    def replica_step(inputs, targets, weights, states, start):
        context = tf.distribute.get_replica_context()
        total = context.all_reduce("sum", tf.reduce_sum(weights))
        rows = context.all_reduce("sum", tf.cast(tf.shape(targets)[0], tf.float32))
        if carry:
            inputs = {**inputs, "states": list(states)}
            if timed:
                inputs["start"] = start
        with tf.GradientTape() as tape:
            outputs = net(inputs, training=True)
            logits, states = (outputs[0], outputs[1:]) if carry else (outputs, ())
            losses = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
            weighted = tf.reduce_sum(losses * weights)
            objective = weighted / tf.maximum(rows * weight_per_row, 1e-12)
            loss = weighted / tf.maximum(total, 1.0)  # shown: per weighted token
            if model.losses:
                regularization = tf.add_n(model.losses) / replicas
                objective += regularization
                loss += regularization
        grads = tape.gradient(objective, variables)
        sequences = tf.cast(tf.shape(targets)[0], tf.float32)
        return loss, grads, tf.reduce_sum(weights), sequences, tuple(states)

    # Padded batches change shape from step to step: let tf.function generalize the shapes
    # instead of tracing once per shape. No AutoGraph: the step branches on Python values only
    # and its loops are tf.while_loop already; converting the sources of the step, the
    # validation step and the sampler took about 4 s of every run (10 -> 6 s for a 10-step toy
    # run, imports aside).
    @tf.function(reduce_retracing=True, autograph=False)
    def train_step(batch, states, start):
        inputs, targets, weights = batch
        loss, grads, tokens, sequences, states = strategy.run(
            replica_step, args=(inputs, targets, weights, states, start)
        )
        loss, tokens, sequences = (
            strategy.reduce("sum", v, axis=None) for v in (loss, tokens, sequences)
        )
        grads = [strategy.reduce("sum", g, axis=None) for g in grads]
        if config.clip_value:
            grads = [tf.clip_by_value(g, -config.clip_value, config.clip_value) for g in grads]
        norm = tf.linalg.global_norm(grads)
        if config.clip_norm:
            grads, _ = tf.clip_by_global_norm(grads, config.clip_norm, use_norm=norm)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return loss, norm, tokens, sequences, states

    return train_step


class Rows:
    """Global-batch arrays as per-replica values and back: replica i gets its slice of rows."""

    def __init__(self, strategy, batch_size: int) -> None:
        self.strategy = strategy
        self.per = batch_size // strategy.num_replicas_in_sync

    def distribute(self, arrays):
        import tensorflow as tf

        def rows(array):
            def part(context):
                i = context.replica_id_in_sync_group
                return tf.constant(array[i * self.per : (i + 1) * self.per])

            return self.strategy.experimental_distribute_values_from_function(part)

        return tuple(rows(a) for a in arrays)

    def gather(self, states):
        import numpy as np

        return [
            np.concatenate([np.asarray(v) for v in self.strategy.experimental_local_results(s)])
            for s in states
        ]
