"""The training loop: a custom GradientTape step under a tf.distribute strategy.

One step: every replica computes the loss of its shard of the global batch (weighted by the
task's weights) and its gradients; the gradients are summed across replicas, clipped (by value,
then by global norm) and applied once, in cross-replica context. The same step therefore gives
the same update on one device and on several.

The loss that is differentiated is the weighted sum divided by (rows of the global batch) x (the
task's mean weight per row, measured once on its training stream), not by the batch's own
weight: grammar tasks bucket sentences of similar length into a batch, and dividing by each
batch's token count would give the tokens of short sentences more weight than those of long
ones (a model trained so ends its sentences too early). For fixed-length rows both divisors are
the same. The loss shown and logged is the batch's mean per weighted token.

Text read in sequential (or chunks) mode carries the recurrent state from one window to the
next and starts from zeros at each pass over the text (truncated backpropagation through time,
as in the seeds); each replica keeps the states of its rows of the batch.

Exact resume: a checkpoint holds the model, the optimizer, the step, the smooth loss and the
carried states; the data are regenerated from the seed and the first `step` batches skipped;
metrics rows and samples after the checkpoint are dropped. Checkpoints are written by
`tf.train.CheckpointManager`, which replaces its index atomically, so a kill mid-write leaves
the previous checkpoint as latest.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seqrnn.errors import Interrupted, NonFinite, SeqrnnError
from seqrnn.plotting import render_curves
from seqrnn.training.config import TrainConfig
from seqrnn.training.runs import RunFolder

Event = Callable[[str, dict[str, Any]], None]


class _StopRequest:
    """Turns the first Ctrl-C (SIGINT) into a request that the loop honours between steps.

    A KeyboardInterrupt raised wherever the signal lands (inside a checkpoint write, a
    metrics row, a destructor that swallows it) could leave a half-written step behind or be
    lost; the loop instead saves the step it finished and stops. A second Ctrl-C interrupts at
    once. Only the main thread can own signal handlers; elsewhere SIGINT keeps its handler.
    """

    def __init__(self) -> None:
        import signal
        import threading

        self.requested = False
        self._owned = threading.current_thread() is threading.main_thread()
        if self._owned:
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            self.release()
            raise KeyboardInterrupt
        self.requested = True

    def release(self) -> None:
        import signal

        if self._owned:
            signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
            self._owned = False


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
                "--strategy multiworker reads the cluster from TF_CONFIG, which is not set; set "
                'it on every worker (see "Several machines" in README.md)'
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


@dataclass
class Summary:
    step: int
    loss: float
    val_loss: float | None
    seconds: float
    metrics: dict[str, Any]


def _format(value: Any) -> str:
    return "" if value is None else f"{value:.6f}"


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


class Trainer:
    """Trains `config` into `run`; reports through `on_event(kind, data)` and never prints.

    Events: `start` {step, steps, run}, `log` (a metrics row), `sample` {step, text}.
    """

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
        import numpy as np
        import tensorflow as tf

        from seqrnn.generation import generator_for
        from seqrnn.models import state_shapes, with_states
        from seqrnn.tasks import make_task
        from seqrnn.training.evaluate import Evaluator
        from seqrnn.training.restore import build_run_model

        config = self.config
        # First: a multi-worker strategy must configure the runtime before any op runs.
        self.strategy = make_strategy(config.strategy)
        tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(config.seed)
        if self.task is None:
            self.task = make_task(config.task, **config.task_settings)
        task = self.task
        with self.strategy.scope():
            self.model = build_run_model(config, task)
            self.net = with_states(self.model) if task.carries_state else self.model
            self.optimizer = make_optimizer(config)
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.smooth = tf.Variable(math.nan, dtype=tf.float64, trainable=False, name="smooth")
        # The carried states of every row of the global batch, for checkpoints only.
        widths = [w for layer in state_shapes(self.model) for w in layer]
        self.carried = [
            tf.Variable(np.zeros((config.batch_size, w), np.float32), trainable=False)
            for w in (widths if task.carries_state else [])
        ]
        self.checkpoint = tf.train.Checkpoint(
            model=self.model,
            optimizer=self.optimizer,
            step=self.step,
            smooth=self.smooth,
            carried=self.carried,
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(self.run.checkpoints), max_to_keep=3
        )
        self.weight_per_row = mean_weight_per_row(task, config.batch_size, config.seed)
        # Validation samples and the samples shown run the plain loop: a run draws them a few
        # times, too few to repay XLA's compilations (see seqrnn.generation).
        self.generator = generator_for(self.model, task, compiled=False)
        self.evaluator = Evaluator(
            self.model, task, config.batch_size, config.seed, generator=self.generator
        )

    def _train_step(self):
        import keras
        import tensorflow as tf

        config, net, strategy = self.config, self.net, self.strategy
        variables = self.model.trainable_variables
        replicas = strategy.num_replicas_in_sync
        carry = bool(self.carried)
        timed = carry and "start" in net.input

        weight_per_row = self.weight_per_row

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
                losses = keras.losses.sparse_categorical_crossentropy(
                    targets, logits, from_logits=True
                )
                weighted = tf.reduce_sum(losses * weights)
                objective = weighted / tf.maximum(rows * weight_per_row, 1e-12)
                loss = weighted / tf.maximum(total, 1.0)  # shown: per weighted token
                if self.model.losses:
                    regularization = tf.add_n(self.model.losses) / replicas
                    objective += regularization
                    loss += regularization
            grads = tape.gradient(objective, variables)
            sequences = tf.cast(tf.shape(targets)[0], tf.float32)
            return loss, grads, tf.reduce_sum(weights), sequences, tuple(states)

        # Padded batches change shape from step to step: let tf.function generalize the shapes
        # instead of tracing once per shape. No AutoGraph: the step branches on Python values
        # only and its loops are tf.while_loop already; converting the sources of the step, the
        # validation step and the sampler took about 4 s of every run (10 -> 6 s for a
        # 10-step toy run, imports aside).
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
            self.optimizer.apply_gradients(zip(grads, variables, strict=True))
            return loss, norm, tokens, sequences, states

        return train_step

    def _distribute(self, arrays):
        """Global-batch arrays as per-replica values: replica i gets its slice of the rows."""
        import tensorflow as tf

        strategy = self.strategy
        per = self.config.batch_size // strategy.num_replicas_in_sync

        def rows(array):
            def part(context):
                i = context.replica_id_in_sync_group
                return tf.constant(array[i * per : (i + 1) * per])

            return strategy.experimental_distribute_values_from_function(part)

        return tuple(rows(a) for a in arrays)

    def _gather(self, states):
        """Per-replica states as global-batch arrays."""
        import numpy as np

        return [
            np.concatenate([np.asarray(v) for v in self.strategy.experimental_local_results(s)])
            for s in states
        ]

    def validate(self, step: int) -> dict[str, Any]:
        def progress(done: int, total: int) -> None:
            self.on_event("validate", {"step": step, "done": done, "total": total})

        return self.evaluator.evaluate("validation", seed=step, progress=progress)

    def _save(self, step: int, smooth: float | None, states) -> None:
        self.step.assign(step)
        self.smooth.assign(math.nan if smooth is None else smooth)
        if states is not None:
            for variable, value in zip(self.carried, self._gather(states), strict=True):
                variable.assign(value)
        self.manager.save(checkpoint_number=step)

    def _sample(self, step: int) -> None:
        config = self.config
        length = config.sample_length if self.task.name == "text" else None
        text = self.evaluator.sample(1, config.temperature, seed=step, length=length)[0]
        self.run.append_sample(step, config.temperature, text)
        self._summary("text", "sample", text, step)
        self.on_event("sample", {"step": step, "text": text})

    def _summary(self, kind: str, name: str, value: Any, step: int) -> None:
        """Writes a scalar or a text to the TensorBoard event files.

        With core TensorFlow ops (`tf.summary.write` and the plugin's name in the metadata):
        `tf.summary.scalar` and `tf.summary.text` need the tensorboard package installed.
        """
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        metadata = summary_pb2.SummaryMetadata()
        metadata.plugin_data.plugin_name = "text" if kind == "text" else "scalars"
        tensor = tf.constant(value, tf.string if kind == "text" else tf.float32)
        with self.writer.as_default():
            tf.summary.write(name, tensor, step=step, metadata=metadata)

    def train(self) -> Summary:
        import numpy as np
        import tensorflow as tf

        from seqrnn.training.checkpoints import listed, newest_intact, set_aside

        config, run = self.config, self.run
        latest = None
        if self.resume:  # damaged checkpoints are moved aside before the manager reads the list
            latest, damaged = newest_intact(run.checkpoints)
            kept = [p for p in listed(run.checkpoints) if p not in damaged]
            set_aside(run.checkpoints, damaged, kept)
        self._build()
        task = self.task
        start = 0
        if latest is not None:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            start = int(self.step.numpy())
        if self.resume:
            run.truncate_metrics(start)
            run.truncate_samples(start)
        else:
            vocabulary = getattr(task, "vocabulary", None)
            run.config.write_text(config.to_json(vocabulary=vocabulary), encoding="utf-8")
        self.writer = tf.summary.create_file_writer(str(run.tensorboard))
        dataset = task.dataset("train", config.batch_size, config.seed).skip(start)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        batches = iter(self.strategy.experimental_distribute_dataset(dataset.with_options(options)))
        train_step = self._train_step()
        carry = bool(self.carried)
        if carry:
            if config.batch_size % self.strategy.num_replicas_in_sync:
                raise SeqrnnError(
                    f"batch size {config.batch_size} does not split evenly across "
                    f"{self.strategy.num_replicas_in_sync} replicas; pick a multiple"
                )
            windows = task.windows_per_pass(config.batch_size)
            states = self._distribute([v.numpy() for v in self.carried]) if start else None
        else:
            states = ()
        self.on_event(
            "start",
            {
                "step": start,
                "steps": config.steps,
                "run": str(run.path),
                "vocab_size": getattr(task, "vocab_size", None),
                "parameters": self.model.count_params(),
            },
        )
        smooth = float(self.smooth.numpy())
        smooth = None if math.isnan(smooth) else smooth
        loss = math.nan
        validation: dict[str, Any] = {}
        began = time.perf_counter()
        tick, tick_tokens = began, 0.0
        step = saved = start
        stop = _StopRequest()
        try:
            for step in range(start + 1, config.steps + 1):
                start_time: Any = ()
                if carry:
                    position = (step - 1) % windows
                    if position == 0 or states is None:  # a new pass starts from zero states
                        states = self._distribute(
                            [np.zeros(v.shape, np.float32) for v in self.carried]
                        )
                    times = np.full(config.batch_size, position * task.seq_len, np.float32)
                    (start_time,) = self._distribute([times])
                loss_t, norm_t, tokens_t, sequences_t, new_states = train_step(
                    next(batches), states, start_time
                )
                if carry:
                    states = new_states
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
                last = step == config.steps
                row: dict[str, Any] | None = None
                if step % config.log_every == 0 or last:
                    now = time.perf_counter()
                    row = {
                        "tokens_per_s": f"{tick_tokens / max(now - tick, 1e-9):.1f}",
                        "lr": f"{float(np.asarray(self.optimizer.learning_rate)):.6g}",
                    }
                    tick, tick_tokens = now, 0.0
                if step % config.eval_every == 0 or last:
                    validation = self.validate(step)
                    row = row or {}
                    row.update(
                        val_loss=_format(validation.get("loss")),
                        val_accuracy=_format(validation.get("accuracy")),
                        val_exact_match=_format(validation.get("exact_match")),
                        val_valid=_format(validation.get("valid")),
                    )
                if self.generator is not None and (step % config.sample_every == 0 or last):
                    self._sample(step)
                if row is not None:
                    row.update(
                        step=step,
                        loss=f"{loss:.6f}",
                        smooth_loss=f"{smooth:.6f}",
                        grad_norm=f"{norm:.6f}",
                    )
                    run.append_metrics(row)
                    for name, value in row.items():
                        if name != "step" and value != "":
                            self._summary("scalar", name, float(value), step)
                    self.on_event("log", {**row, "steps": config.steps})
                    tick = time.perf_counter()  # tokens/s counts training time only
                stopping = stop.requested  # read once: a Ctrl-C from here on waits a step
                if step % config.checkpoint_every == 0 or last or stopping:
                    self._save(step, smooth, states if carry else None)
                    saved = step
                if step % config.eval_every == 0 or last:
                    render_curves(run.metrics_rows(), run.curves)
                if stopping:  # Ctrl-C: stop between steps, where the state is whole
                    raise Interrupted(
                        f"interrupted at step {step}; checkpoint saved; continue with "
                        f"seqrnn train --resume {run.path}"
                    )
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once, keep the last checkpoint
            raise Interrupted(
                f"interrupted during step {step} without saving it; the checkpoint of step "
                f"{saved} is kept; continue with seqrnn train --resume {run.path}"
            ) from None
        finally:
            stop.release()
            self.writer.flush()
        self.model.save(run.model)
        return Summary(
            step=config.steps,
            loss=loss,
            val_loss=validation.get("loss"),
            seconds=time.perf_counter() - began,
            metrics=validation,
        )
