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

import os
from typing import Any

from seqrnn.errors import SeqrnnError
from seqrnn.settings import TrainConfig


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

    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise SeqrnnError(
                "the multiworker strategy reads the cluster from TF_CONFIG, which is not set; "
                'set it on every worker (see "Several machines" in README.md)',
                "strategy",
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
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
