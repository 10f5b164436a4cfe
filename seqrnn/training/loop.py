"""The training loop: steps, validations, samples and checkpoints of a run.

The step itself is `seqrnn.training.step`; what a run records, `seqrnn.training.records`; its
checkpoints, `seqrnn.training.checkpoints`; its validation, `seqrnn.training.evaluate`.

A task that carries the recurrent state from one batch to the next (text read in sequential or
chunks mode) starts from zeros at each pass over its data (truncated backpropagation through
time, as in the seeds); each replica keeps the states of its rows of the batch.

Exact resume: a checkpoint holds the model, the optimizer, the step, the smooth loss and the
carried states; the data are regenerated from the seed and the first `step` batches skipped;
metrics rows and samples after the checkpoint are dropped.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seqrnn.errors import Interrupted, NonFinite, SeqrnnError, SeqrnnWarning
from seqrnn.settings import TrainConfig
from seqrnn.training.records import Recorder, smooth_loss
from seqrnn.training.runs import RunFolder
from seqrnn.training.step import (
    Rows,
    make_optimizer,
    make_strategy,
    make_train_step,
    mean_weight_per_row,
    split_cpu,
    steps_of,
)

Event = Callable[[str, dict[str, Any]], None]

__all__ = ["Summary", "Trainer", "make_strategy", "split_cpu"]


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


@dataclass
class Summary:
    step: int
    loss: float
    val_loss: float | None
    seconds: float
    metrics: dict[str, Any]
    best_step: int | None = None  # the step of the lowest validation loss
    best_val_loss: float | None = None
    stopped: str | None = None  # why the run stopped before its last step (patience)


class Trainer:
    """Trains `config` into `run`; reports through `on_event(kind, data)` and never prints.

    Events: `start` {step, steps, run, vocab_size, parameters}, `log` (a metrics row),
    `sample` {step, text}, `validate` {step, done, total}.
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
        self.stopped: str | None = None

    def _build(self) -> None:
        import keras
        import tensorflow as tf

        from seqrnn.generation import generator_for
        from seqrnn.models import build_run_model, state_shapes, with_states
        from seqrnn.tasks import make_task
        from seqrnn.training.checkpoints import Checkpointer
        from seqrnn.training.evaluate import Evaluator

        config = self.config
        # First: a multi-worker strategy must configure the runtime before any op runs.
        self.strategy = make_strategy(config.strategy)
        tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(config.seed)
        if self.task is None:
            self.task = make_task(config.task, **config.task_settings)
        task = self.task
        config.steps = steps_of(config, task)  # epochs as steps (config.json holds both)
        with self.strategy.scope():
            self.model = build_run_model(config, task)
            self.net = with_states(self.model) if task.carries_state else self.model
            self.optimizer = make_optimizer(config)
            self.optimizer.build(self.model.trainable_variables)
            # The carried states of every row of the global batch, for checkpoints only.
            widths = [w for layer in state_shapes(self.model) for w in layer]
            self.checkpoints = Checkpointer(
                self.run.checkpoints,
                self.model,
                self.optimizer,
                widths if task.carries_state else [],
                config.batch_size,
            )
        self.carry = task.carries_state
        self.per_pass = task.batches_per_pass(config.batch_size) if self.carry else None
        self.rows = Rows(self.strategy, config.batch_size)
        weight_per_row = mean_weight_per_row(task, config.batch_size, config.seed)
        self.train_step = make_train_step(
            config, self.model, self.net, self.optimizer, self.strategy, weight_per_row, self.carry
        )
        # Validation samples and the samples shown run the plain loop: a run draws them a few
        # times, too few to repay XLA's compilations (see seqrnn.generation).
        self.generator = generator_for(self.model, task, compiled=False)
        self.evaluator = Evaluator(
            self.model, task, config.batch_size, config.seed, generator=self.generator
        )

    def validate(self, step: int) -> dict[str, Any]:
        def progress(done: int, total: int) -> None:
            self.on_event("validate", {"step": step, "done": done, "total": total})

        return self.evaluator.evaluate("validation", seed=step, progress=progress)

    def _start(self) -> tuple[int, float | None, list | None]:
        """Builds the run, restored from its newest intact checkpoint when resuming: (the step
        it starts after, the smooth loss, the carried states or None)."""
        from seqrnn.training.checkpoints import Checkpointer

        config, run = self.config, self.run
        latest = Checkpointer.newest_for_resume(run.checkpoints) if self.resume else None
        self._build()
        start, smooth, carried = 0, None, None
        if latest is not None:
            start, smooth, carried = self.checkpoints.restore(latest)
        elif self.resume:  # (stopped before its first checkpoint: nothing was lost but time)
            warnings.warn(
                SeqrnnWarning(
                    f"{run.checkpoints} holds no checkpoint, so the run starts again from step 0"
                ),
                stacklevel=2,
            )
        if self.resume:
            run.truncate_metrics(start)
            run.truncate_samples(start)
        else:
            vocabulary = self.task.vocabulary
            run.config.write_text(config.to_json(vocabulary=vocabulary), encoding="utf-8")
        if self.carry and config.batch_size % self.strategy.num_replicas_in_sync:
            raise SeqrnnError(
                f"batch_size {config.batch_size} does not split evenly across "
                f"{self.strategy.num_replicas_in_sync} replicas; pick a multiple",
                "batch_size",
            )
        return start, smooth, (carried if start and self.carry else None)

    def _batches(self, start: int):
        """The training batches after `start`, distributed across the replicas."""
        import tensorflow as tf

        config = self.config
        dataset = self.task.dataset("train", config.batch_size, config.seed).skip(start)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return iter(self.strategy.experimental_distribute_dataset(dataset.with_options(options)))

    def _states(self, step: int, states):
        """(states, start time) to feed step `step`: a pass over the data starts from zeros."""
        import numpy as np

        if not self.carry:
            return (), ()
        config = self.config
        position = (step - 1) % self.per_pass
        if position == 0 or states is None:
            states = self.rows.distribute([np.zeros(v.shape, np.float32) for v in self.carried])
        times = np.full(config.batch_size, self.task.pass_time(position), np.float32)
        (start_time,) = self.rows.distribute([times])
        return states, start_time

    @property
    def carried(self):
        return self.checkpoints.carried

    def train(self) -> Summary:
        config, run = self.config, self.run
        start, smooth, carried = self._start()
        batches = self._batches(start)
        states = self.rows.distribute(carried) if carried is not None else None
        self.recorder = Recorder(run, self.task, self.on_event)
        self.on_event("start", self._start_event(start))
        loss, validation = math.nan, {}
        began = time.perf_counter()
        step = saved = start
        stop = _StopRequest()
        end = config.steps
        if self._patience_spent():  # a resumed run that its patience had stopped: no more steps
            end, self.stopped = start, self._patience_message(start)
        try:
            for step in range(start + 1, end + 1):
                states, start_time = self._states(step, states)
                loss_t, norm_t, tokens_t, rows_t, new_states = self.train_step(
                    next(batches), states, start_time
                )
                states = new_states if self.carry else states
                loss, norm = float(loss_t), float(norm_t)
                self._check_finite(step, loss, norm)
                smooth = smooth_loss(smooth, loss * float(tokens_t) / max(float(rows_t), 1.0))
                self.recorder.count_tokens(float(tokens_t))
                validated = self._record(step, loss, smooth, norm)
                validation = validated or validation
                patience = validated is not None and self._patience_spent()
                stopping = stop.requested  # read once: a Ctrl-C from here on waits a step
                due = step % config.checkpoint_every == 0 or step == config.steps
                if due or stopping or patience:
                    saved_states = self.rows.gather(states) if self.carry else None
                    self.checkpoints.save(step, smooth, saved_states)
                    saved = step
                if validated is not None:
                    self.recorder.curves()
                if patience:
                    self.stopped = self._patience_message(step)
                    break
                if stopping:  # Ctrl-C: stop between steps, where the state is whole
                    raise Interrupted(f"interrupted at step {step}; checkpoint saved", run.path)
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once, keep the last checkpoint
            raise Interrupted(
                f"interrupted during step {step} without saving it; the checkpoint of step "
                f"{saved} is kept",
                run.path,
            ) from None
        finally:
            stop.release()
            self.recorder.close()
        if config.export_weights == "best":
            self.checkpoints.load_best_weights()  # (the last step's when never validated)
        self.model.save(run.model)
        best = float(self.checkpoints.best_loss.numpy())
        return Summary(
            step=step,
            loss=loss,
            val_loss=validation.get("loss"),
            seconds=time.perf_counter() - began,
            metrics=validation,
            best_step=None if math.isnan(best) else int(self.checkpoints.best_step.numpy()),
            best_val_loss=None if math.isnan(best) else best,
            stopped=self.stopped,
        )

    def _patience_spent(self) -> bool:
        patience = self.config.patience
        return bool(patience) and int(self.checkpoints.stale.numpy()) >= patience

    def _patience_message(self, step: int) -> str:
        c = self.checkpoints
        return (
            f"stopped at step {step}: no lower validation loss in {int(c.stale.numpy())} "
            f"validations (patience); the best, {float(c.best_loss.numpy()):.4f}, was at step "
            f"{int(c.best_step.numpy())}"
        )

    def _start_event(self, start: int) -> dict[str, Any]:
        return {
            "step": start,
            "steps": self.config.steps,
            "run": str(self.run.path),
            "vocab_size": self.task.vocab_size or None,
            "parameters": self.model.count_params(),
        }

    @staticmethod
    def _check_finite(step: int, loss: float, norm: float) -> None:
        if not (math.isfinite(loss) and math.isfinite(norm)):
            raise NonFinite(
                f"the {'loss' if not math.isfinite(loss) else 'gradient norm'} is not finite at "
                f"step {step}; the last checkpoint is kept; lower lr or clip harder (clip_norm, "
                "clip_value)",
                "lr",
                "clip_norm",
                "clip_value",
            )

    def _record(self, step: int, loss: float, smooth: float, norm: float) -> dict | None:
        """The metrics row, validation and sample due at `step`; the validation's metrics,
        or None when none was due."""
        import numpy as np

        config, recorder = self.config, self.recorder
        last = step == config.steps
        row: dict[str, Any] | None = None
        validation = None
        if step % config.log_every == 0 or last:
            lr = float(np.asarray(self.optimizer.learning_rate))
            row = {"tokens_per_s": recorder.throughput(), "lr": f"{lr:.6g}"}
        if step % config.eval_every == 0 or last:
            validation = self.validate(step)
            self.checkpoints.validated(step, validation.get("loss"))
            row = {**(row or {}), **recorder.validation_columns(validation)}
        if self.generator is not None and (step % config.sample_every == 0 or last):
            length = config.sample_length
            text = self.evaluator.sample(1, config.temperature, seed=step, length=length)[0]
            recorder.sample(step, config.temperature, text)
        if row is not None:
            row.update(
                step=step, loss=f"{loss:.6f}", smooth_loss=f"{smooth:.6f}", grad_norm=f"{norm:.6f}"
            )
            recorder.log(row, config.steps)
            recorder.resume_clock()  # tokens/s counts training time only
        return validation
