"""seqrnn export and sample: a SavedModel that generates without seqrnn, reproducibly, greedy
= argmax decoding with the Keras model, saved_model_cli, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli.main import main
from tests.conftest import ROOT
from tests.reference import greedy_with_keras

pytestmark = pytest.mark.tf_only
tf = pytest.importorskip("tensorflow")

TINY = ["--units", "8", "--embedding-dim", "4", "--batch-size", "8", "--no-export"]


@pytest.fixture(scope="module")
def text_export(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    corpus = base / "corpus.txt"
    rng = np.random.default_rng(0)
    corpus.write_text("".join(rng.choice(list("abcdéf \n"), size=3000)), encoding="utf-8")
    run = base / "run"
    # Random windows: samples start from the zero state, as the step-by-step references here
    # do (a model trained with carried states burns in first: test_sample_start.py).
    args = ["train", "text", "--data", str(corpus), "--seq-len", "10", "--mode", "random"]
    assert main([*args, *TINY, "--steps", "20", "--out", str(run)]) == 0
    assert main(["export", str(run), "--out", str(base / "model")]) == 0
    return run, base / "model"


def test_a_sequential_text_export_burns_in_as_the_run_does(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    rng = np.random.default_rng(1)
    corpus.write_text("".join(rng.choice(list("abcdef \n"), size=3000)), encoding="utf-8")
    run, saved = tmp_path / "run", tmp_path / "model"
    args = ["train", "text", "--data", str(corpus), "--seq-len", "10", *TINY, "--steps", "20"]
    assert main([*args, "--out", str(run)]) == 0
    assert main(["export", str(run), "--out", str(saved)]) == 0
    capsys.readouterr()
    samples = []
    for model in (run, saved):
        command = ["sample", str(model), "--prime", "ab", "--length", "60", "--seed", "4"]
        for temperature in ("0", "1"):
            assert main([*command, "--temperature", temperature]) == 0
            samples.append(capsys.readouterr().out)
    assert samples[:2] == samples[2:]  # greedy and sampled: the same burn-in, the same text


@pytest.fixture(scope="module")
def grammar_export(tmp_path_factory):
    base = tmp_path_factory.mktemp("grammar")
    run = base / "run"
    assert main(["train", "ndfa", *TINY, "--steps", "20", "--out", str(run)]) == 0
    assert main(["export", str(run), "--out", str(base / "model")]) == 0
    return run, base / "model"


TOY_RUN = ROOT / "tests" / "fixtures" / "toy-lstm"  # trained on toy (see its README.md)

BLOCK_SEQRNN = """
import json, sys
sys.modules["seqrnn"] = None  # any import of seqrnn now fails
try:
    import seqrnn
except ImportError:
    pass
else:
    raise SystemExit("seqrnn was importable")
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
"""

WITHOUT_SEQRNN = (
    BLOCK_SEQRNN
    + """
out = {}
for name, seed, temperature, top_k in [
    ("a", [1, 2], 1.0, 0), ("b", [1, 2], 1.0, 0), ("c", [9, 9], 1.0, 0),
    ("greedy", [0, 0], 0.0, 0), ("top1", [5, 6], 1.0, 1),
]:
    samples = model.signatures["generate"](
        prime=tf.constant(sys.argv[2]), length=tf.constant(120),
        temperature=tf.constant(temperature), top_k=tf.constant(top_k),
        top_p=tf.constant(1.0), seed=tf.constant(seed, tf.int64),
        num_samples=tf.constant(3),
    )["samples"]
    out[name] = [s.decode("utf-8") for s in samples.numpy()]
print(json.dumps(out))
"""
)

HUNDRED_SAMPLES = (
    BLOCK_SEQRNN
    + """
samples = model.signatures["generate"](
    prime=tf.constant(""), length=tf.constant(200), temperature=tf.constant(1.0),
    top_k=tf.constant(0), top_p=tf.constant(1.0), seed=tf.constant([int(sys.argv[2]), 0], tf.int64),
    num_samples=tf.constant(100),
)["samples"]
print(json.dumps([s.decode("utf-8") for s in samples.numpy()]))
"""
)


def run_without_seqrnn(model: Path, prime: str, script: str = WITHOUT_SEQRNN):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [sys.executable, "-c", script, str(model), prime],
        cwd=model.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def generate(loaded, prime="", length=100, temperature=1.0, seed=(0, 0), num_samples=1):
    """The `generate` signature with top_k and top_p off; the samples as bytes."""
    return loaded.signatures["generate"](
        prime=tf.constant(prime),
        length=tf.constant(length),
        temperature=tf.constant(temperature),
        top_k=tf.constant(0),
        top_p=tf.constant(1.0),
        seed=tf.constant(seed, tf.int64),
        num_samples=tf.constant(num_samples),
    )["samples"].numpy()


def keras_greedy_text(run: Path, prime: str, length: int) -> str:
    import keras

    import seqrnn  # noqa: F401
    from seqrnn.tasks import make_task

    config = json.loads((run / "config.json").read_text())
    task = make_task("text", **config["task_settings"])
    model = keras.models.load_model(run / "model.keras")
    return task.decode(greedy_with_keras(model, list(task.encode(prime)), length))


def test_the_export_generates_in_a_process_without_seqrnn(text_export):
    run, model = text_export
    out = run_without_seqrnn(model, "ab é")
    assert out["a"] == out["b"]  # same seed, same text
    assert out["a"] != out["c"]  # another seed, other text
    assert len(set(out["a"])) > 1  # the rows of one call differ
    assert all(len(s) == 120 for s in out["a"])  # characters, not bytes (é is two bytes)
    assert len(set(out["greedy"])) == 1 and out["greedy"] == out["top1"]
    assert out["greedy"][0] == keras_greedy_text(run, "ab é", 120)


def test_a_model_trained_on_toy_generates_samples_that_parse(tmp_path):
    """The run in tests/fixtures/toy-lstm, exported now, drawn at temperature 1 in a process
    without seqrnn: at least 95 of 100 samples are sentences of the toy grammar."""
    from seqrnn.tasks.grammars import accept_toy

    before = {p.name: p.read_bytes() for p in TOY_RUN.iterdir()}
    model = tmp_path / "toy"
    assert main(["export", str(TOY_RUN), "--out", str(model)]) == 0
    assert {p.name: p.read_bytes() for p in TOY_RUN.iterdir()} == before  # the run is untouched
    samples = run_without_seqrnn(model, "1", HUNDRED_SAMPLES)
    assert len(samples) == 100 and len(set(samples)) > 50
    valid = sum(accept_toy(s) for s in samples)
    assert valid >= 95, [s for s in samples if not accept_toy(s)]


def test_grammar_samples_stop_at_the_end_token(grammar_export):
    _, model = grammar_export
    loaded = tf.saved_model.load(str(model))
    samples = generate(loaded, length=300, seed=(0, 1), num_samples=32)
    assert all(set(s.decode()) <= set("abcklmsuvw!") for s in samples)
    assert any(len(s) < 300 for s in samples)  # some ended at the end token
    served = loaded.signatures["serving_default"](
        temperature=tf.constant(0.0), seed=tf.constant([0, 0], tf.int64)
    )["sample"]
    assert isinstance(served.numpy(), bytes)


def test_step_signature_continues_like_generate(text_export):
    _, model = text_export
    loaded = tf.saved_model.load(str(model))
    vocabulary = json.loads((model / "assets" / "vocabulary.json").read_text())
    step = loaded.signatures["step"]
    widths = [
        spec.shape[-1]
        for name, spec in step.structured_input_signature[1].items()
        if name.startswith("state_")
    ]
    states = {f"state_{i}": tf.zeros([1, w]) for i, w in enumerate(widths)}
    text, token = "", vocabulary.index("a")
    for t in range(30):
        out = step(tokens=tf.constant([token]), time=tf.constant(float(t)), **states)
        states = {k: v for k, v in out.items() if k.startswith("state_")}
        token = int(np.argmax(out["logits"].numpy()[0]))
        text += vocabulary[token]
    greedy = generate(loaded, prime="a", length=30, temperature=0.0)[0]
    assert greedy.decode() == text


def test_saved_model_cli_lists_and_runs_the_signatures(text_export):
    _, model = text_export
    cli = shutil.which("saved_model_cli") or str(Path(sys.executable).parent / "saved_model_cli")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    shown = subprocess.run(
        [cli, "show", "--dir", str(model), "--all"], capture_output=True, text=True, env=env
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    for name in ("generate", "step", "serving_default"):
        assert f"signature_def['{name}']" in shown.stdout
    inputs = "prime='ab';length=40;temperature=0.5;top_k=0;top_p=1.0;seed=[1,2];num_samples=2"
    command = [cli, "run", "--dir", str(model), "--tag_set", "serve"]
    ran = subprocess.run(
        [*command, "--signature_def", "generate", "--input_exprs", inputs],
        capture_output=True,
        text=True,
        env=env,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "samples" in ran.stdout and "b'" in ran.stdout


def test_seqrnn_sample_prints_each_temperature(text_export, capsys):
    run, model = text_export
    args = ["--prime", "ab", "--length", "30", "--seed", "4"]
    assert main(["sample", str(model), *args, "--temperature", "0", "--temperature", "1"]) == 0
    printed = capsys.readouterr().out
    assert "--- temperature 0, sample 1 ---" in printed
    assert "--- temperature 1, sample 1 ---" in printed
    assert main(["sample", str(model), *args, "--temperature", "0"]) == 0
    from_model = capsys.readouterr().out
    assert main(["sample", str(run), *args, "--temperature", "0"]) == 0
    from_run = capsys.readouterr().out
    assert from_model == from_run and from_model.startswith("ab") and len(from_model) == 33


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing-folder"], "no such folder"),
        (["."], "not a seqrnn SavedModel"),
        (["MODEL", "--prime", "xyz"], "outside the model's vocabulary: 'xyz'"),
        (["MODEL", "--length", "-1"], "length must lie in 0..100000"),
        (["MODEL", "--length", "100001"], "length must lie in 0..100000"),
        (["MODEL", "--temperature", "-1"], "temperature must be a finite number >= 0"),
        (["MODEL", "--top-p", "0"], "top-p must lie in (0, 1]"),
        (["MODEL", "--top-p", "1.5"], "top-p must lie in (0, 1]"),
        (["MODEL", "--top-k", "-2"], "top-k must be >= 0"),
    ],
)
def test_bad_sampling_input_is_one_line_and_exit_2(text_export, capsys, args, message):
    _, model = text_export
    args = [str(model) if a == "MODEL" else a for a in args]
    assert main(["sample", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_a_sample_of_length_zero_is_empty_from_the_run_and_the_export(text_export, capsys):
    run, model = text_export
    capsys.readouterr()
    outputs = []
    for folder in (run, model):
        assert main(["sample", str(folder), "--length", "0", "--num-samples", "2"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and outputs[0].count("---") == 4  # two headers
    from seqrnn.export import read_marker

    prime = read_marker(model)["default_prime"]  # each sample is the prime, nothing after it
    assert [line for line in outputs[0].splitlines() if "---" not in line] == [prime] * 2


def test_export_never_overwrites_without_force(text_export, capsys):
    run, model = text_export
    before = sorted(p.name for p in model.iterdir())
    assert main(["export", str(run), "--out", str(model)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.name for p in model.iterdir()) == before
    assert main(["export", str(ROOT / "no-such-run"), "--out", str(model)]) == 2
