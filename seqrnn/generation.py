"""In-graph generation with a token model's own layers: one step at a time, states carried.

`Generator(model)` takes the embedding, the recurrent cells and the head of a model from
`seqrnn.models.build_model` (tokens in, logits per step out) and runs them step by step inside
`tf.function`s, so that a whole sample is one graph call (no Python per character) and the same
graph can be exported in a SavedModel.

Drawing a token from logits (`choose`):
- temperature 0 is greedy (argmax); otherwise the logits are divided by the temperature (at
  most 1e6: every allowed token is then equally likely, and banned ones stay banned);
- `top_k` > 0 keeps the k most likely tokens (0: all);
- `top_p` < 1 keeps the smallest set of most likely tokens whose probabilities add up to at least
  `top_p` (nucleus sampling; 1: all);
- the draw uses stateless random numbers (the Gumbel-max trick): step i of a call uses
  `fold_in(seed, i)`, so the same seed gives the same samples in any process.

Burn-in (`burn_in` steps, for models trained with their state carried from window to window,
text in sequential or chunks mode): such a model rarely saw the zero state it starts from, and
its samples began with noise (`?N3DMQQFGJTY&TnbzSHUkDM&N` before ordinary Shakespeare). So the
generator first reads the prime, draws `burn_in` tokens of the model's own text (temperature 1,
a fixed seed: the same for every call, so that greedy samples stay greedy), discards them, and
reads the prime again from the state they left: the sample starts from a state like those the
model was trained in. An empty prime is read as nothing: the burn-in starts from the zero state
(its first token drawn from even odds, as char-rnn starts without a prime text), draws with a
seed derived from the sample's (so that each seed starts somewhere else), and the sample
continues the burnt-in text, from wherever in a line it stopped, so its first characters are
drawn as the later ones are. The discarded steps cost what as many generated characters cost.

The steps run in chunks compiled with XLA (`compiled=True`: the SavedModel, `seqrnn sample`).
Compiling takes one to two seconds, again for each new number of samples; then 1,000 characters
of a 256-unit LSTM take about 0.04 s. Sampling done a few times per process (validation samples
during training, `seqrnn eval`, the studies) is cheaper as a plain graph loop (`compiled=False`:
nothing to compile, about 0.2 ms a step for one sample of that LSTM). The two loops draw from
the same distribution but not the same numbers (XLA's stateless generator differs from
TensorFlow's kernels), so a seed fixes the samples of each loop.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from seqrnn.errors import UsageError
from seqrnn.layers import PhasedLSTM
from seqrnn.models import recurrent_layers, state_shapes

#: The longest sample one call may ask for.
MAX_LENGTH = 100_000
#: Steps per XLA-compiled chunk of generation.
CHUNK = 64
#: The seed of the burn-in's draws: fixed, so that a greedy sample is the same in every call.
BURN_IN_SEED = (0x5EED, 0xB0B)


def _keep_top_k(scaled, top_k):
    # A sort and a gather rather than tf.math.top_k, whose k must be static under XLA.
    k = tf.minimum(top_k, tf.shape(scaled)[-1])
    kth = tf.gather(tf.sort(scaled, axis=-1, direction="DESCENDING"), [k - 1], axis=-1)
    return tf.where(scaled < kth, -float("inf"), scaled)


def _keep_nucleus(scaled, top_p):
    ordered = tf.sort(scaled, axis=-1, direction="DESCENDING")
    before = tf.cumsum(tf.nn.softmax(ordered), axis=-1, exclusive=True)
    # The smallest logit still kept: the first token is always kept (before = 0 < top_p).
    floor = tf.reduce_min(tf.where(before < top_p, ordered, float("inf")), axis=-1, keepdims=True)
    return tf.where(scaled < floor, -float("inf"), scaled)


#: The temperature a draw divides by at most (see `choose`).
MAX_TEMPERATURE = 1e6


def choose(logits, temperature, top_k, top_p, seed):
    """Draws one token id per row of `logits` (rows, vocab); see the module doc for the rules.

    The draw is the Gumbel-max trick: argmax(logits / T + G) with G = -log(-log(U)) and U
    uniform from a stateless generator, which samples exactly from softmax(logits / T).
    """
    logits = tf.cast(logits, tf.float32)
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    # Above MAX_TEMPERATURE every allowed token is as likely as any other already; the cap
    # keeps a banned token's logit (-1e9) far below them all (-1e9 / 1e30 would be about 0).
    scaled = logits / tf.clip_by_value(temperature, 1e-6, MAX_TEMPERATURE)
    # Filters run only when asked for: sorting every step costs more than the network.
    scaled = tf.cond(top_k > 0, lambda: _keep_top_k(scaled, top_k), lambda: scaled)
    scaled = tf.cond(top_p < 1.0, lambda: _keep_nucleus(scaled, top_p), lambda: scaled)
    uniform = tf.random.stateless_uniform(
        tf.shape(scaled), seed=seed, minval=1e-20, maxval=1.0, dtype=tf.float32
    )
    sampled = tf.argmax(scaled - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)
    return tf.where(temperature > 0.0, sampled, greedy)


def _dynamic(count):
    """`count` as a tensor whose value shape inference cannot see: loops over `count` rows then
    keep an unknown batch size instead of failing when a constant count meets (None, ...)."""
    return tf.raw_ops.PlaceholderWithDefault(input=tf.cast(count, tf.int32), shape=[])


class Generator(tf.Module):
    """Runs a token model one step at a time.

    Args:
        model: A model of `build_model` whose input is `"tokens"` and whose output is one row of
            logits per step (a language model of text or of a grammar).
        forbidden: Token ids never generated (a grammar's padding and start tokens).
        compiled: Whether the steps run in XLA-compiled chunks (see the module doc).
        burn_in: Tokens drawn and discarded before the prime is read again (see the module
            doc); rounded up to whole chunks of CHUNK.
    """

    def __init__(
        self,
        model: keras.Model,
        forbidden: tuple[int, ...] = (),
        compiled: bool = True,
        burn_in: int = 0,
    ) -> None:
        super().__init__(name="generator")
        if "tokens" not in model.input or len(model.output.shape) != 3:
            raise UsageError(
                f"{model.name}: generation needs a model that reads tokens and predicts the next "
                "token at every step (the text and grammar tasks)"
            )
        self.embedding = next(x for x in model.layers if isinstance(x, keras.layers.Embedding))
        self.recurrent = recurrent_layers(model)
        self.head = model.get_layer("logits")
        self.forbidden = tuple(int(i) for i in forbidden)
        self.compiled = bool(compiled)
        self.burn_in_chunks = -(-int(burn_in) // CHUNK)
        self.timed = isinstance(self.recurrent[0], PhasedLSTM)
        shapes = state_shapes(model)
        self.counts = [len(widths) for widths in shapes]
        self.widths = [width for widths in shapes for width in widths]

    def initial_states(self, batch):
        return [tf.zeros([batch, w], self.head.compute_dtype) for w in self.widths]

    def step(self, tokens, states, time):
        """Logits after `tokens` (batch,) given `states`; `time` is the step's timestamp."""
        # The embedding's table directly: the layer would attach its padding mask to x.
        x = tf.gather(self.embedding.embeddings, tokens)
        new_states, position = [], 0
        for layer, count in zip(self.recurrent, self.counts, strict=True):
            cell = layer.cell
            if self.timed:
                t = tf.fill([tf.shape(tokens)[0], 1], tf.cast(time, tf.float32))
                x = tf.concat([x, cell.phase(t)], axis=-1)
            x, layer_states = cell(x, list(states[position : position + count]), training=False)
            position += count
            layer_states = layer_states if isinstance(layer_states, (list, tuple)) else [x]
            new_states.extend(layer_states)
        logits = self.head(x)
        if self.forbidden:
            banned = tf.reduce_any(
                tf.equal(tf.range(tf.shape(logits)[-1])[:, None], list(self.forbidden)), axis=-1
            )
            logits = tf.where(banned, tf.cast(-1e9, logits.dtype), logits)
        return logits, new_states

    def run_prime(self, prime, num_samples, states=None, start=0, logits=None):
        """States and last logits after reading `prime` (P,) in `num_samples` rows, from
        `states` (default: zeros) at time step `start`; an empty prime leaves `states` and
        `logits` (default: zeros, even odds) as they were."""
        num_samples = _dynamic(num_samples)
        states = self.initial_states(num_samples) if states is None else states
        if logits is None:
            logits = tf.zeros([num_samples, self.head.units], self.head.compute_dtype)

        def body(i, logits, *states):
            tokens = tf.fill([num_samples], prime[i])
            logits, states = self.step(tokens, list(states), tf.cast(start + i, tf.float32))
            return (i + 1, logits, *states)

        _, logits, *states = tf.while_loop(
            lambda i, *_: i < tf.shape(prime)[0], body, (tf.constant(0), logits, *states)
        )
        return logits, states

    def _chunk(self, first, length, done, lengths, logits, states, settings):
        """CHUNK steps from step `first` (steps at or past `length` draw the stop token and
        count as done)."""
        temperature, top_k, top_p, seed, stop_id, start = settings

        def body(j, tokens, done, lengths, logits, *states):
            i = first + j
            step_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(i, tf.int64))
            token = choose(logits, temperature, top_k, top_p, step_seed)
            token = tf.where(done | (i >= length), stop_id, token)
            tokens = tokens.write(j, token)
            done = done | tf.equal(token, stop_id) | (i >= length)
            lengths = lengths + tf.cast(tf.logical_not(done), tf.int32)
            # Finished rows go on with token 0 (the stop id may be -1), their output unused; XLA
            # clamps an index of -1 to 0 the same way, a plain gather would fail on it.
            fed = tf.maximum(token, 0)
            logits, states = self.step(fed, list(states), tf.cast(start + i, tf.float32))
            return (j + 1, tokens, done, lengths, logits, *states)

        tokens = tf.TensorArray(tf.int32, size=CHUNK, element_shape=done.shape)
        _, tokens, done, lengths, logits, *states = tf.while_loop(
            lambda j, *_: j < CHUNK, body, (tf.constant(0), tokens, done, lengths, logits, *states)
        )
        return tf.transpose(tokens.stack()), done, lengths, logits, states

    _compiled_chunk = tf.function(_chunk, jit_compile=True, autograph=False)

    def generate_ids(self, prime, length, temperature, top_k, top_p, seed, num_samples, stop_id):
        """`num_samples` continuations of `prime`, each up to `length` tokens.

        The steps run in chunks of CHUNK, compiled with XLA when `self.compiled`: one kernel
        launch per chunk instead of about a hundred small ops per step.

        Returns:
            `(ids, lengths)`: ids `(num_samples, length)` int32 and the length of each sample,
            which ends before its first `stop_id` (pass -1 for no stop token).
        """
        num_samples = _dynamic(num_samples)
        logits, states, start = self._start(prime, num_samples, seed)
        settings = (temperature, top_k, top_p, seed, stop_id, start)
        chunks = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None, CHUNK])
        done = tf.zeros([num_samples], tf.bool)
        lengths = tf.zeros([num_samples], tf.int32)

        def cond(c, chunks, done, lengths, logits, *states):
            # At least one chunk, so that the chunks stack even for a length of 0 (its steps all
            # draw the stop token and nothing of it is kept).
            going = (c * CHUNK < length) & tf.logical_not(tf.reduce_all(done))
            return going | tf.equal(c, 0)

        chunk = self._compiled_chunk if self.compiled else self._chunk

        def body(c, chunks, done, lengths, logits, *states):
            tokens, done, lengths, logits, states = chunk(
                c * CHUNK, length, done, lengths, logits, list(states), settings
            )
            return (c + 1, chunks.write(c, tokens), done, lengths, logits, *states)

        c, chunks, done, lengths, *_ = tf.while_loop(
            cond, body, (tf.constant(0), chunks, done, lengths, logits, *states)
        )
        ids = tf.reshape(tf.transpose(chunks.stack(), [1, 0, 2]), [num_samples, c * CHUNK])
        ids = tf.concat([ids, tf.fill([num_samples, length], stop_id)], axis=1)
        return ids[:, :length], lengths

    def _start(self, prime, num_samples, seed):
        """(logits, states, time step) from which the sample is drawn: after the prime, or after
        the prime, `burn_in` discarded tokens and the prime again (see the module doc). The
        burn-in draws with BURN_IN_SEED after a prime, and with a seed of its own derived from
        `seed` after an empty one (the sample continues it: each seed starts elsewhere)."""
        logits, states = self.run_prime(prime, num_samples)
        start = tf.shape(prime)[0]
        if not self.burn_in_chunks:
            return logits, states, start
        done = tf.zeros([num_samples], tf.bool)
        lengths = tf.zeros([num_samples], tf.int32)
        own = tf.random.experimental.stateless_fold_in(seed, tf.constant(BURN_IN_SEED[0], tf.int64))
        seed = tf.where(start > 0, tf.constant(BURN_IN_SEED, tf.int64), tf.cast(own, tf.int64))
        stop = tf.constant(-1, tf.int32)
        settings = (tf.constant(1.0), tf.constant(0), tf.constant(1.0), seed, stop, start)
        steps = self.burn_in_chunks * CHUNK
        chunk = self._compiled_chunk if self.compiled else self._chunk
        for c in range(self.burn_in_chunks):  # whole chunks: no step reaches the length
            # Tensors, as the sampling loop passes them: the compiled chunk is traced once.
            first, length = tf.constant(c * CHUNK, tf.int32), tf.constant(steps, tf.int32)
            _, done, lengths, logits, states = chunk(
                first, length, done, lengths, logits, list(states), settings
            )
        logits, states = self.run_prime(prime, num_samples, states, start + steps, logits)
        return logits, states, 2 * start + steps

    @tf.function(
        autograph=False,
        input_signature=[
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([2], tf.int64),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
        ],
    )
    def generate(self, prime, length, temperature, top_k, top_p, seed, num_samples, stop_id):
        return self.generate_ids(
            prime, length, temperature, top_k, top_p, seed, num_samples, stop_id
        )


def generator_for(model: keras.Model, task, compiled: bool = True) -> Generator | None:
    """The generator of a task's model (grammars never draw padding or start), or None when
    the task's models do not generate."""
    if not task.generates:
        return None
    return Generator(model, task.forbidden_ids, compiled=compiled, burn_in=task.burn_in)


def check_sampling(
    length: int, temperature: float, top_k: int = 0, top_p: float = 1.0, num_samples: int = 1
) -> None:
    """Refuses sampling settings outside their ranges, naming the setting and the range."""
    if not 0 <= length <= MAX_LENGTH:
        raise UsageError(f"length must lie in 0..{MAX_LENGTH}, got {length}", "length")
    if not 0 <= temperature < math.inf:
        raise UsageError(
            f"temperature must be a finite number >= 0 (0 is greedy), got {temperature}",
            "temperature",
        )
    if top_k < 0:
        raise UsageError(f"top_k must be >= 0 (0 keeps every token), got {top_k}", "top_k")
    if not 0 < top_p <= 1:
        raise UsageError(f"top_p must lie in (0, 1] (1 keeps every token), got {top_p}", "top_p")
    if num_samples < 1:
        raise UsageError(f"num_samples must be >= 1, got {num_samples}", "num_samples")


def sample_texts(
    generator: Generator,
    task,
    prime_ids,
    length: int,
    temperature: float = 1.0,
    num_samples: int = 1,
    seed: tuple[int, int] = (0, 0),
    top_k: int = 0,
    top_p: float = 1.0,
) -> list[str]:
    """Decoded samples of `task` (text or grammar): the prime is not repeated in the output."""
    check_sampling(length, temperature, top_k, top_p, num_samples)
    stop = task.stop_id
    ids, lengths = generator.generate(
        tf.constant(prime_ids, tf.int32),
        tf.constant(length, tf.int32),
        tf.constant(temperature, tf.float32),
        tf.constant(top_k, tf.int32),
        tf.constant(top_p, tf.float32),
        tf.constant(seed, tf.int64),
        tf.constant(num_samples, tf.int32),
        tf.constant(stop, tf.int32),
    )
    return [
        task.decode(row[:n]) for row, n in zip(ids.numpy(), lengths.numpy().tolist(), strict=True)
    ]
