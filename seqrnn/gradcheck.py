"""Analytic gradients (`tf.GradientTape`) checked against centered finite differences.

The model of a check is seed 001's: one recurrent layer of `units` units reading one-hot
characters, a dense readout (`readout_kernel`, `readout_bias`) and the softmax cross-entropy
summed over every step and sequence, all in float64. Every element of every weight is moved by
+eps and -eps, and the numerical derivative (f(w + eps) - f(w - eps)) / (2 eps) is compared with
the analytic one (fourth-order centered differences from w +- eps and w +- 2 eps, all computed
in one graph per sequence length; their error is O(eps^4), so eps = 1e-3 keeps both the
truncation and the float64 rounding near 1e-11). The Phased LSTM's periods tau move by eps / 10
(`TAU_EPS_SCALE`): over long sequences the phase's higher derivatives in tau are large.

Errors, per weight tensor, between the analytic gradient g and the numerical one n:
- `abs`: max_i |g_i - n_i|;
- `rel`: max_i |g_i - n_i| / max(|g_i|, |n_i|, floor): elementwise relative, except that
  elements smaller than `floor` are measured against the floor (a plain relative error of two
  near-zero numbers is noise, not a finding);
- `rel_norm`: ||g - n|| / max(||g||, ||n||) over the tensor (0 when both are 0).
A tensor passes when `abs` and `rel` are both within the tolerance.

Phased LSTM: its time gate is piecewise linear in the phase, with kinks where the phase crosses
r_on / 2 and r_on and a wrap-around where (t - s) / tau crosses an integer; a finite difference
across one of them measures a slope from two pieces. The check draws the timestamps so that no
step of any unit changes piece when tau, s or r_on moves by up to 2 eps (it redraws until this
holds, and reports the smallest distance to a kink), and it runs the gate in training mode with
r_on = 0.5 and periods of 2 to 8 steps, so that units are open, rising, falling and closed
(leaking) at different steps and tau, s and r_on all receive gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqrnn.errors import UsageError

#: one-hot characters per step and classes of the readout
VOCAB = 4
BATCH = 2


def layer_classes() -> dict[str, type]:
    from seqrnn.models import CELLS

    return dict(CELLS)


#: Extra arguments of each layer in a check.
LAYER_ARGUMENTS: dict[str, dict[str, Any]] = {
    "phased": {"tau_range": (2.0, 8.0), "r_on_init": 0.5},
}
#: The paths a check can take: the fused sequence path or the per-step cells (the Phased LSTM's
#: peepholes, which only the per-step cell has, are checked there).
PATHS = ("fused", "per-step")


def layer_arguments(name: str, path: str) -> dict[str, Any]:
    if path not in PATHS:
        raise UsageError(f"unknown path {path!r}; choose one of {', '.join(PATHS)}")
    # "auto": the path the layer takes in use (the result records which one ran).
    arguments = {**LAYER_ARGUMENTS.get(name, {}), "use_fused": "auto" if path == "fused" else False}
    if name == "phased" and path == "per-step":
        arguments["use_peepholes"] = True
    return arguments


@dataclass
class CheckResult:
    cell: str
    seq_lens: list[int]
    path: str = "fused"
    #: parameter -> one {"abs", "rel", "rel_norm"} per sequence length
    errors: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    #: the smallest distance of a phase from a kink (Phased LSTM only)
    kink_margin: float | None = None

    def worst(self) -> dict[str, float]:
        values = [e for rows in self.errors.values() for e in rows]
        return {key: max(e[key] for e in values) for key in ("abs", "rel", "rel_norm")}

    def passed(self, tol: float) -> bool:
        worst = self.worst()
        return worst["abs"] <= tol and worst["rel"] <= tol


def _errors(analytic: np.ndarray, numeric: np.ndarray, floor: float) -> dict[str, float]:
    diff = np.abs(analytic - numeric)
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    norm = max(np.linalg.norm(analytic), np.linalg.norm(numeric))
    return {
        "abs": float(diff.max(initial=0.0)),
        "rel": float((diff / scale).max(initial=0.0)),
        "rel_norm": float(np.linalg.norm(analytic - numeric) / norm) if norm > 0 else 0.0,
    }


def _gate_pieces(t: np.ndarray, tau: np.ndarray, shift: np.ndarray, r_on: np.ndarray):
    """(period index, piece of the triangle) of every (sample, step, unit) and phases."""
    x = (t[..., None] - shift) / tau
    period = np.floor(x)
    phi = x - period
    piece = (phi >= r_on / 2).astype(int) + (phi >= r_on).astype(int)
    return period, piece, phi


def kink_safe_times(layer, steps: int, eps: float, rng: np.random.Generator, tries: int = 1000):
    """Timestamps (BATCH, steps) at which no gate changes piece when tau, s or r_on move by eps.

    Returns the times and the smallest distance of a phase from a kink or a wrap-around.
    """
    cell = layer.cell
    tau = np.abs(np.asarray(cell.tau, np.float64))
    shift = np.asarray(cell.shift, np.float64)
    r_on = np.clip(np.abs(np.asarray(cell.r_on, np.float64)), 1e-6, 1.0)
    moves = [(tau, shift, r_on)]
    for d in (2 * eps, eps, -eps, -2 * eps):
        moves += [(tau + d, shift, r_on), (tau, shift + d, r_on), (tau, shift, r_on + d)]
    for _ in range(tries):
        t = np.cumsum(rng.uniform(0.5, 1.5, size=(BATCH, steps)), axis=1)
        base_period, base_piece, phi = _gate_pieces(t, *moves[0])
        if all(
            np.array_equal(period, base_period) and np.array_equal(piece, base_piece)
            for period, piece, _ in (_gate_pieces(t, *m) for m in moves[1:])
        ):
            kinks = np.stack([phi, np.abs(phi - r_on / 2), np.abs(phi - r_on), 1 - phi])
            return t, float(kinks.min())
    raise UsageError(
        f"no timestamps keep every gate off its kinks at eps {eps}; use a smaller eps", "eps"
    )


def check_cell(
    name: str,
    seq_lens: list[int],
    units: int = 5,
    eps: float = 1e-3,
    seed: int = 0,
    floor: float = 1e-3,
    layer_class: type | None = None,
    progress: Callable[[int, int], None] | None = None,
    path: str = "fused",
) -> CheckResult:
    """Checks every gradient of a small float64 model of cell `name` at each sequence length."""
    import keras
    import tensorflow as tf

    classes = layer_classes()
    if layer_class is None:
        if name not in classes:
            raise UsageError(f"unknown cell {name!r}; choose one of {', '.join(classes)}, all")
        layer_class = classes[name]
    from seqrnn.layers import PhasedLSTM

    timed = issubclass(layer_class, PhasedLSTM)
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    layer = layer_class(
        units,
        return_sequences=True,
        dtype="float64",
        seed=seed,
        **(layer_arguments(name, path) if name in classes else {}),
    )
    # Non-zero biases, so that their gradients are not trivially tested at 0.
    readout = keras.layers.Dense(VOCAB, dtype="float64", bias_initializer="random_normal")
    x0 = np.zeros((BATCH, 1, VOCAB))
    layer_inputs = [x0, np.zeros((BATCH, 1))] if timed else x0
    readout(layer(layer_inputs))
    for variable in layer.trainable_variables:
        if variable.name == "bias":
            variable.assign(rng.normal(0, 0.1, variable.shape))
    params = [(v.name, v) for v in layer.trainable_variables]
    params += [(f"readout_{v.name}", v) for v in readout.trainable_variables]
    result = CheckResult(cell=name, seq_lens=list(seq_lens), path=layer.path)
    elements = sum(int(np.prod(v.shape)) for _, v in params)
    done, total = 0, elements * len(seq_lens)
    margins = []
    for steps in seq_lens:
        chars = rng.integers(0, VOCAB, size=(BATCH, steps + 1))
        x = tf.constant(np.eye(VOCAB)[chars[:, :-1]])
        y = tf.constant(chars[:, 1:])
        if timed:
            times, margin = kink_safe_times(layer, steps, eps, rng)
            margins.append(margin)
            inputs: Any = [x, tf.constant(times)]
        else:
            inputs = x

        def loss(inputs=inputs, y=y):
            logits = readout(layer(inputs, training=True))
            return tf.reduce_sum(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )

        variables = [v for _, v in params]
        with tf.GradientTape() as tape:
            value = tf.function(loss)()
        grads = tape.gradient(value, variables)
        numerics = numeric_gradients(loss, variables, steps_for(variables, eps))
        for (pname, variable), grad, numeric in zip(params, grads, numerics, strict=True):
            analytic = np.zeros(variable.shape) if grad is None else np.asarray(grad)
            result.errors.setdefault(pname, []).append(_errors(analytic, numeric, floor))
        done += elements
        if progress is not None:
            progress(done, total)
    if progress is not None:
        progress(total, total)
    if margins:
        result.kink_margin = min(margins)
    return result


#: The Phased LSTM's periods are moved by a tenth of eps: the phase (t - s) / tau has large
#: higher derivatives in tau over long sequences, and at T=25 the fourth-order difference of
#: step 1e-3 was off by 1.4e-7 (3.3e-9 at 3e-4, 1.3e-10 at 1e-4), while the other weights'
#: round-off grows at the smaller steps (LSTM at 1e-4: relative 1.8e-7).
TAU_EPS_SCALE = 0.1


def steps_for(variables, eps: float) -> list[float]:
    """The finite-difference step of each variable: eps, and eps * TAU_EPS_SCALE for tau."""
    return [eps * TAU_EPS_SCALE if v.name == "tau" else eps for v in variables]


#: Centered differences of fourth order: f'(w) = (f(w - 2e) - 8 f(w - e) + 8 f(w + e) -
#: f(w + 2e)) / (12 e) + O(e^4).
STENCIL = ((-2.0, 1.0), (-1.0, -8.0), (1.0, 8.0), (2.0, -1.0))


def numeric_gradients(loss, variables, eps, chosen=None) -> list[np.ndarray]:
    """Numerical derivatives of `loss` by each element of `variables`, in one graph.

    `loss` is a plain function of no arguments that reads the variables; it is traced once.
    `eps`: the step, one for every variable or a list of one per variable.
    `chosen` (optional) lists, per variable, the flat indices to check; the result then holds
    the derivatives at those indices only (else every element, shaped like the variable).
    """
    import tensorflow as tf

    steps = list(eps) if isinstance(eps, (list, tuple)) else [eps] * len(variables)

    originals = [tf.identity(v) for v in variables]
    sizes = [int(np.prod(v.shape)) for v in variables]
    if chosen is None:
        chosen = [np.arange(size) for size in sizes]
    which = np.concatenate([np.full(len(c), j) for j, c in enumerate(chosen)]).astype(np.int32)
    where = np.concatenate([np.asarray(c) for c in chosen]).astype(np.int32)
    total = len(which)
    step_of = tf.constant(np.asarray(steps, np.float64)[which])  # each element's step
    shifts = tf.constant([shift for shift, _ in STENCIL], tf.float64)
    weights = tf.constant([weight for _, weight in STENCIL], tf.float64)
    points = len(STENCIL)

    @tf.function
    def run():
        which_t, where_t = tf.constant(which), tf.constant(where)

        def body(i, out):
            element, point = i // points, i % points
            for j, (variable, original) in enumerate(zip(variables, originals, strict=True)):
                bump = tf.where(which_t[element] == j, shifts[point] * step_of[element], 0.0)
                index = tf.minimum(where_t[element], sizes[j] - 1)
                flat = tf.tensor_scatter_nd_add(tf.reshape(original, [-1]), [[index]], [bump])
                variable.assign(tf.reshape(flat, variable.shape))
            return i + 1, out.write(i, weights[point] * loss())

        _, out = tf.while_loop(
            lambda i, _: i < points * total,
            body,
            (tf.constant(0), tf.TensorArray(tf.float64, size=points * total)),
        )
        for variable, original in zip(variables, originals, strict=True):
            variable.assign(original)
        return tf.reduce_sum(tf.reshape(out.stack(), [total, points]), axis=1) / (12.0 * step_of)

    values = run().numpy()
    out, start = [], 0
    for variable, indices in zip(variables, chosen, strict=True):
        part = values[start : start + len(indices)]
        start += len(indices)
        full = len(indices) == int(np.prod(variable.shape))
        out.append(part.reshape(variable.shape) if full else part)
    return out


def check_run(
    path,
    eps: float = 1e-3,
    seed: int = 0,
    elements: int = 20,
    floor: float = 1e-3,
    progress: Callable[[int, int], None] | None = None,
) -> CheckResult:
    """Checks a trained run's model, cast to float64, on two sequences of its validation split.

    `elements` randomly chosen elements of each weight tensor are checked (all of a smaller
    tensor). The loss is the training loss: weighted cross-entropy over the batch's targets.
    """
    import keras
    import tensorflow as tf

    from seqrnn.models import build_run_model
    from seqrnn.restore import load_run

    loaded = load_run(path)
    config, task = loaded.config, loaded.task
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        model = build_run_model(config, task, dropout=0.0)
    finally:
        keras.config.set_dtype_policy(previous)
    model.set_weights([np.asarray(w, np.float64) for w in loaded.model.get_weights()])
    inputs, targets, weights = next(iter(task.batches("validation", 2, config.seed)))
    inputs = {
        k: tf.constant(v.astype(np.float64) if v.dtype.kind == "f" else v)
        for k, v in inputs.items()
    }
    targets, weights = tf.constant(targets), tf.constant(weights.astype(np.float64))

    def loss():
        logits = model(inputs, training=False)
        losses = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
        return tf.reduce_sum(losses * weights) / tf.reduce_sum(weights)

    variables = list(model.trainable_variables)
    rng = np.random.default_rng(seed)
    chosen = [
        np.sort(rng.choice(int(np.prod(v.shape)), min(elements, int(np.prod(v.shape))), False))
        for v in variables
    ]
    with tf.GradientTape() as tape:
        value = tf.function(loss)()
    grads = tape.gradient(value, variables)
    numerics = numeric_gradients(loss, variables, steps_for(variables, eps), chosen)
    result = CheckResult(cell=f"{config.cell} ({path})", seq_lens=[int(targets.shape[1])])
    for variable, grad, numeric, indices in zip(variables, grads, numerics, chosen, strict=True):
        # An embedding's gradient comes as IndexedSlices: densify it.
        analytic = np.zeros(variable.shape) if grad is None else tf.convert_to_tensor(grad).numpy()
        name = variable.path.replace("/", ".")
        result.errors[name] = [_errors(analytic.reshape(-1)[indices], numeric, floor)]
    if progress is not None:
        progress(sum(len(c) for c in chosen), sum(len(c) for c in chosen))
    return result


def parse_seq_lens(text: str) -> list[int]:
    """ "5,10,15" -> [5, 10, 15]; anything else is a usage error."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise UsageError(
            f"seq-lens must be a comma-separated list of integers >= 1 (like 5,10,15), got {text!r}"
        )
    return values


def check_eps(eps: float) -> float:
    if not (math.isfinite(eps) and 0 < eps < 1):
        raise UsageError(f"eps must lie in (0, 1) (1e-5 suits float64), got {eps}")
    return eps
