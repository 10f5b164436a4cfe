"""The loops of the fused path: a `tf.while_loop` (compiled with XLA or not), when to compile,
how to slice the batch across cores, and the small helpers of the hand-written gradients."""

from __future__ import annotations

import tensorflow as tf

from seqrnn.backend import cpu_cores, slices_wanted


def _loop(step, num_steps, carry, num_outputs, reverse=False, compiled=False):
    """Runs `carry, outputs = step(t, carry)` over the steps; returns (carry, stacked outputs).

    A graph loop, compiled with XLA when `compiled` (see `compilable`): at `seqrnn bench`'s
    default shape that took the training step of the 256-unit LSTM from 174 to 150 ms and the
    GRU's from 198 to 115 ms here.
    """

    def run(carry):
        arrays = [tf.TensorArray(carry[0].dtype, size=num_steps) for _ in range(num_outputs)]

        def body(t, carry, arrays):
            index = num_steps - 1 - t if reverse else t
            carry, outputs = step(index, carry)
            arrays = [a.write(index, o) for a, o in zip(arrays, outputs, strict=True)]
            return t + 1, carry, arrays

        _, carry, arrays = tf.while_loop(
            lambda t, *_: t < num_steps, body, (tf.constant(0), tuple(carry), arrays)
        )
        return carry, [array.stack() for array in arrays]

    if compiled:
        run = tf.function(run, jit_compile=True, autograph=False)
    return run(tuple(carry))


#: Under jit_compile="auto", the smallest batch x steps x units compiled: a compilation takes
#: about a second here, and below this size the loop is fast either way (a 4 x 10 x 8 LSTM saves
#: 0.25 ms a call).
MIN_COMPILED_SIZE = 2**16


def compilable(shape, units: int, jit_compile: bool | str) -> bool:
    """Whether the loops over sequences of `shape` `(batch, steps, features)` compile with XLA.

    In a traced function, when the shape is static (and, under "auto", large enough). XLA fuses
    each step's elementwise work into a few kernels where a plain graph loop dispatches some
    twenty small ops per step, but it compiles once per shape: a function of fixed shapes (text
    windows, `seqrnn bench`) compiles once, while batches whose shapes change from call to call
    (bucketed sentences, under `tf.function(reduce_retracing=True)`) should run the plain loop:
    `jit_compile=False` (what `seqrnn train` builds for such tasks).
    """
    shape = tf.TensorShape(shape)
    if not jit_compile or tf.executing_eagerly() or not shape.is_fully_defined():
        return False
    return jit_compile is True or shape[0] * shape[1] * units >= MIN_COMPILED_SIZE


def cores() -> int:
    """The CPU cores TensorFlow's executor runs ops on (its inter-op threads when they are set)."""
    count = cpu_cores()
    threads = tf.config.threading.get_inter_op_parallelism_threads()
    return min(count, threads) if threads > 0 else count


def batch_slices(batch: int, setting: int | str, num_cores: int) -> list[int]:
    """The sizes of the slices of a batch of `batch` samples whose recurrences run side by side.

    `setting`: "auto" for one slice per core (of `num_cores`), each of at least MIN_SLICE samples,
    or a number of slices. XLA runs the per-step product of a compiled loop on one core when it is
    small: at `seqrnn bench`'s shape, 100 steps of 64 x 256 by 256 x 256 took 11.3 ms with one
    intra-op thread and with two, and 32 x 256 by 256 x 256 took 5.4 ms. The recurrences of
    different samples are independent, so the kernel splits the batch, one slice per core, and
    TensorFlow's executor runs the slices' loops (and their projections and weight-gradient
    products) at the same time. Alternating bench runs on a 2-core Xeon, one recurrence against
    two slices: vanilla step 43.7-44.1 -> 35.9-37.4 ms, GRU 99.3-100.7 -> 85.6-87.4 ms, LSTM
    116.0-117.2 -> 113.4-114.6 ms, Phased LSTM 140.5-144.1 -> 134.9-136.0 ms. Four slices on two
    cores were slower than two (vanilla 47.3 ms). Each slice compiles its own loops: the bench
    step's first call took about 0.4 s longer. Sizes differ by at most one; none is empty.
    """
    count = slices_wanted(batch, setting, num_cores)
    size, extra = divmod(batch, count)
    return [size + 1] * extra + [size] * (count - extra)


def _previous(sequence, first):
    """The sequence shifted one step later in time, `first` at step 0: `(steps, batch, units)`."""
    return tf.concat([first[tf.newaxis], sequence[:-1]], axis=0)


def _matmul_2d(a, b):
    """`a^T b` summed over steps and batch: `(steps, batch, m)`, `(steps, batch, n)` -> `(m, n)`."""
    a = tf.reshape(a, (-1, tf.shape(a)[-1]))
    b = tf.reshape(b, (-1, tf.shape(b)[-1]))
    return tf.matmul(a, b, transpose_a=True)


def _gate_gradient(totals, new, previous):
    """Gradient of `k` in `k new + (1 - k) previous`, summed over the given state pairs."""
    return sum(d * (n - p) for d, n, p in zip(totals, new, previous, strict=True))


def _zeros_for_none(grads, like):
    """Upstream gradients with None (an output nobody used) replaced by zeros."""
    return [tf.zeros_like(x) if g is None else g for g, x in zip(grads, like, strict=True)]


def _optional(args, *present):
    """`args` with None for each argument that is not `present` (the optional inputs)."""
    args = list(args)
    return [args.pop(0) if p else None for p in present]


def _with_optional(required: tuple, bias, k):
    """(args, unpack) of a custom-gradient recurrence: the `required` tensors, then `bias` and
    `k` where they are given; `unpack(args)` returns `(*required, bias, k)` with None for the
    ones not given."""
    present = (bias is not None, k is not None)
    count = len(required)

    def unpack(args):
        return (*args[:count], *_optional(args[count:], *present))

    return (*required, *(a for a in (bias, k) if a is not None)), unpack


def _bias_sums(sums, *terms):
    """The running bias gradients `sums` plus each term's sum over the batch; () without a bias
    (no `sums` carried)."""
    if not sums:
        return ()
    return tuple(s + tf.reduce_sum(d, axis=0) for s, d in zip(sums, terms, strict=True))


def _zeros_like_optional(x):
    """`[zeros like x]`, or `[]` when x is None (the running sums of an optional bias)."""
    return [] if x is None else [tf.zeros_like(x)]
