"""In-graph generation: greedy equals argmax decoding with the Keras model, seeds, top-k/top-p,
end tokens, forbidden tokens and the sampling rules; the PNG curves."""

from __future__ import annotations

import numpy as np
import pytest

from seqrnn.errors import UsageError
from seqrnn.models import build_model
from seqrnn.tasks import make_task
from tests.reference import greedy_with_keras

pytestmark = pytest.mark.tf_only
tf = pytest.importorskip("tensorflow")

from seqrnn.generation import Generator, choose, sample_texts  # noqa: E402


def generate(generator, prime, length, temperature=1.0, top_k=0, top_p=1.0, seed=(0, 0), n=1):
    ids, lengths = generator.generate(
        tf.constant(prime, tf.int32),
        tf.constant(length),
        tf.constant(temperature, tf.float32),
        tf.constant(top_k),
        tf.constant(top_p, tf.float32),
        tf.constant(seed, tf.int64),
        tf.constant(n),
        tf.constant(-1),
    )
    return ids.numpy(), lengths.numpy()


@pytest.fixture(scope="module")
def text_task(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    rng = np.random.default_rng(0)
    path.write_text("".join(rng.choice(list("abcdefgh \n"), size=500)), encoding="utf-8")
    return make_task("text", path=str(path), seq_len=10)


@pytest.mark.parametrize("cell", ["vanilla", "lstm", "gru", "phased"])
def test_temperature_zero_is_argmax_decoding_with_the_keras_model(text_task, cell):
    model = build_model(text_task, cell, units=12, num_layers=2, embedding_dim=6)
    expected = greedy_with_keras(model, [3, 1, 4], 25)
    for compiled in (True, False):  # XLA chunks, and the plain loop of validation samples
        generator = Generator(model, compiled=compiled)
        ids, lengths = generate(generator, [3, 1, 4], 25, temperature=0.0, n=2)
        assert ids[0].tolist() == expected and ids[1].tolist() == expected, compiled
        assert lengths.tolist() == [25, 25]


@pytest.mark.parametrize("compiled", [True, False], ids=["xla", "plain"])
def test_seeds_fix_the_samples_and_top_k_1_is_greedy(text_task, compiled):
    model = build_model(text_task, "lstm", units=12, embedding_dim=6)
    generator = Generator(model, compiled=compiled)
    a, _ = generate(generator, [0], 200, seed=(1, 2), n=3)
    b, _ = generate(generator, [0], 200, seed=(1, 2), n=3)
    c, _ = generate(generator, [0], 200, seed=(1, 3), n=3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])  # the rows of one call are different samples
    greedy, _ = generate(generator, [0], 50, temperature=0.0)
    top1, _ = generate(generator, [0], 50, top_k=1, seed=(5, 5))
    nucleus, _ = generate(generator, [0], 50, top_p=1e-6, seed=(5, 5))
    assert np.array_equal(greedy, top1) and np.array_equal(greedy, nucleus)


def test_choose_keeps_exactly_the_top_k_and_the_nucleus():
    logits = tf.math.log(tf.constant([[0.5, 0.3, 0.15, 0.05]]))
    draws = lambda **kw: {  # noqa: E731
        int(choose(tf.tile(logits, [1, 1]), 1.0, seed=(i, 0), **kw)[0]) for i in range(300)
    }
    assert draws(top_k=2, top_p=1.0) == {0, 1}
    assert draws(top_k=0, top_p=0.8) == {0, 1}  # 0.5 < 0.8, 0.5 + 0.3 >= 0.8
    assert draws(top_k=0, top_p=0.81) == {0, 1, 2}
    assert draws(top_k=0, top_p=1.0) == {0, 1, 2, 3}


def test_grammar_samples_stop_at_the_end_token_and_never_hold_padding():
    task = make_task("brackets")
    model = build_model(task, "gru", units=8, embedding_dim=4)
    generator = Generator(model, task.forbidden_ids)
    prime = tf.constant(task.default_prime())
    ids, lengths = generator.generate(
        prime, 60, 1.0, 0, 1.0, tf.constant([0, 0], tf.int64), 64, task.stop_id
    )
    ids, lengths = ids.numpy(), lengths.numpy()
    assert not np.isin(ids, task.forbidden_ids).any()
    for row, n in zip(ids, lengths, strict=True):
        assert (row[:n] != task.stop_id).all()
        assert (row[n:] == task.stop_id).all()  # the end token, then the end token as filler
    assert (lengths < 60).any()  # an untrained model still ends some samples
    texts = sample_texts(generator, task, task.default_prime(), 60, num_samples=4)
    assert all(set(t) <= set("()") for t in texts)
    # A huge temperature draws every allowed token alike and still never a forbidden one.
    hot = sample_texts(generator, task, task.default_prime(), 60, 1e30, num_samples=16)
    assert all(set(t) <= set("()") for t in hot) and "(" in "".join(hot)
    assert sample_texts(generator, task, task.default_prime(), 0, num_samples=3) == [""] * 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"length": -1}, "length must lie in"),
        ({"temperature": -0.5}, "temperature must be a finite number >= 0"),
        ({"temperature": float("inf")}, "temperature must be a finite number >= 0"),
        ({"top_k": -1}, "top_k must be >= 0"),
        ({"top_p": 0.0}, "top_p must lie in (0, 1]"),
        ({"top_p": 1.5}, "top_p must lie in (0, 1]"),
        ({"num_samples": 0}, "num_samples must be >= 1"),
    ],
)
def test_bad_sampling_settings_are_refused(text_task, kwargs, message):
    generator = Generator(build_model(text_task, "lstm", units=4, embedding_dim=2))
    settings = {"length": 5, "temperature": 1.0, **kwargs}
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("]", r"\]")):
        sample_texts(generator, text_task, [0], **settings)


def test_only_token_models_generate():
    with pytest.raises(UsageError, match="reads tokens"):
        Generator(build_model(make_task("palindrome"), "lstm", units=4))


def test_text_prime_outside_the_vocabulary_is_named(text_task):
    assert text_task.decode(text_task.encode("abc")) == "abc"
    with pytest.raises(UsageError, match="'XZ' not in the vocabulary"):
        text_task.encode("aZbX")


@pytest.mark.parametrize("metric", ["val_valid", None])
def test_curves_png_is_a_png_of_one_panel_per_curve(tmp_path, metric):
    from seqrnn.plotting import line_plots, render_curves

    rows = [
        {"step": str(s), "loss": str(3 / s), "smooth_loss": str(50 - s), "grad_norm": "1.0"}
        for s in range(1, 41)
    ]
    rows[-1].update(val_loss="0.2", **({metric: "0.9"} if metric else {}))
    path = render_curves(rows, tmp_path / "curves.png")
    image = tf.io.decode_png(path.read_bytes()).numpy()
    assert image.shape[:2] == (2 * 280, 2 * 480)  # loss, smooth, norm (and the metric): 2 x 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]  # no temporary left
    ordinary = tmp_path / "ordinary"
    ordinary.write_bytes(b"")  # the permissions any file written here gets (umask)
    assert path.stat().st_mode & 0o777 == ordinary.stat().st_mode & 0o777
    ordinary.unlink()
    one = line_plots([("t", [("a", [1, 2], [3, 4])])], tmp_path / "one.png")
    assert tf.io.decode_png(one.read_bytes()).numpy().shape[:2] == (280, 480)


def test_log_scaled_panels_label_their_ticks_as_plain_numbers():
    from matplotlib.figure import Figure

    from seqrnn.plotting import _draw

    axes = Figure().subplots()
    _draw(axes, "norm", [("", [1, 2, 3], [0.15, 0.4, 4.0])], "step", "norm")
    assert axes.get_yscale() == "log"
    ticks = list(axes.yaxis.get_majorticklocs()) + list(axes.yaxis.get_minorticklocs())
    low, high = axes.get_ylim()
    shown = [t for t in ticks if low <= t <= high]
    labels = axes.yaxis.get_major_formatter().format_ticks(shown)
    labels += axes.yaxis.get_minor_formatter().format_ticks(shown)
    assert "1" in labels and "0.2" in labels, labels  # plain numbers, none as 2e-01 or 10^0
    assert not any("e" in t or "10^" in t or "times" in t for t in labels), labels
