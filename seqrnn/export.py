"""A run exported as a self-contained TensorFlow SavedModel that generates in-graph.

The folder needs TensorFlow only (no seqrnn): the weights, the graphs of the signatures below,
and `assets/vocabulary.json` and `assets/config.json`. Built with `keras.export.ExportArchive`,
so the variables are tracked for the TF1 loader of `saved_model_cli` and TF Serving too.

Signatures (models of tokens that predict every step, i.e. text and grammars):
- `generate(prime, length, temperature, top_k, top_p, seed, num_samples) -> samples`: the prime
  is split into Unicode characters and read once, then up to `length` characters are drawn one
  step at a time (rules in `seqrnn.generation`: temperature 0 is greedy, top_k 0 and top_p 1
  keep every token, `seed` int64[2] fixes the draws in any process). A grammar reads its start
  token before the prime and stops a sample at its end token. A prime character outside the
  vocabulary is an error naming the character (InvalidArgumentError); it is never dropped or
  replaced. A text model needs a non-empty prime. `length` must lie in 0..MAX_LENGTH.
- `step(tokens, time, states...) -> logits, states...`: one step for servers that keep their own
  state (`time` is the step's timestamp, read by a Phased LSTM only; start at 0 and count up).
- `serving_default`: the task's natural prediction: text: the next-character distribution after
  `text`; grammars: one sample (`temperature`, `seed`); adder: `"a+b"` in, the sum out as a
  string; palindrome: the first T - 1 digits in, the last digit out; frequency: the class
  probabilities of `values`, `times`, `mask`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from seqrnn.errors import SeqrnnError, UsageError
from seqrnn.generation import MAX_LENGTH, generates, generator_for

#: What identifies a seqrnn SavedModel: this file inside its assets.
MARKER = "seqrnn.json"


def _generation_signatures(archive, model, task, vocabulary: list[str]) -> None:
    import tensorflow as tf

    generator = generator_for(model, task)
    grammar = hasattr(task, "end_id")
    stop = task.end_id if grammar else -1
    vocab = tf.constant(vocabulary)
    special = 3 if grammar else 0  # a grammar's <pad>, <start>, <end> are not characters

    def encode(prime):
        chars = tf.strings.unicode_split(prime, "UTF-8")
        matches = tf.equal(chars[:, None], vocab[None, special:])
        known = tf.reduce_any(matches, axis=1)
        unknown = tf.boolean_mask(chars, tf.logical_not(known))
        check = tf.debugging.Assert(
            tf.reduce_all(known),
            [
                "prime characters not in the vocabulary:",
                tf.strings.reduce_join(unknown, separator=" "),
            ],
            summarize=20,
        )
        with tf.control_dependencies([check]):
            ids = tf.argmax(tf.cast(matches, tf.int32), axis=1, output_type=tf.int32) + special
        if grammar:
            ids = tf.concat([[task.default_prime()[0]], ids], axis=0)
        return ids

    def decode(ids, lengths):
        rows = tf.RaggedTensor.from_tensor(ids, lengths=lengths)
        return tf.strings.reduce_join(tf.gather(vocab, rows), axis=1)

    def generate(prime, length, temperature, top_k, top_p, seed, num_samples):
        ids = encode(prime)
        checks = [
            tf.debugging.assert_greater(tf.size(ids), 0, message="the prime must not be empty"),
            tf.debugging.assert_less_equal(
                length, MAX_LENGTH, message=f"length must lie in 0..{MAX_LENGTH}"
            ),
            tf.debugging.assert_non_negative(length, message="length must be >= 0"),
            tf.debugging.assert_non_negative(temperature, message="temperature must be >= 0"),
            tf.debugging.assert_non_negative(top_k, message="top_k must be >= 0"),
            tf.debugging.assert_greater(top_p, 0.0, message="top_p must lie in (0, 1]"),
            tf.debugging.assert_less_equal(top_p, 1.0, message="top_p must lie in (0, 1]"),
            tf.debugging.assert_positive(num_samples, message="num_samples must be >= 1"),
        ]
        with tf.control_dependencies(checks):
            out, lengths = generator.generate_ids(
                ids, length, temperature, top_k, top_p, seed, num_samples, stop
            )
        return {"samples": decode(out, lengths)}

    archive.add_endpoint(
        "generate",
        generate,
        input_signature=[
            tf.TensorSpec([], tf.string, name="prime"),
            tf.TensorSpec([], tf.int32, name="length"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.float32, name="top_p"),
            tf.TensorSpec([2], tf.int64, name="seed"),
            tf.TensorSpec([], tf.int32, name="num_samples"),
        ],
    )

    def step(tokens, time, *states):
        logits, states = generator.step(tokens, list(states), time)
        return {"logits": logits, **{f"state_{i}": s for i, s in enumerate(states)}}

    archive.add_endpoint(
        "step",
        step,
        input_signature=[
            tf.TensorSpec([None], tf.int32, name="tokens"),
            tf.TensorSpec([], tf.float32, name="time"),
            *[
                tf.TensorSpec([None, w], tf.float32, name=f"state_{i}")
                for i, w in enumerate(generator.widths)
            ],
        ],
    )

    if grammar:

        def serve(temperature, seed):
            out, lengths = generator.generate_ids(
                tf.constant(task.default_prime()),
                tf.constant(task.max_length + 1),
                temperature,
                tf.constant(0),
                tf.constant(1.0),
                seed,
                tf.constant(1),
                stop,
            )
            return {"sample": decode(out, lengths)[0]}

        signature = [
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([2], tf.int64, name="seed"),
        ]
    else:

        def serve(text):
            ids = encode(text)
            logits, _ = generator.run_prime(ids, 1)
            return {"characters": vocab, "probabilities": tf.nn.softmax(logits[0])}

        signature = [tf.TensorSpec([], tf.string, name="text")]
    archive.add_endpoint("serving_default", serve, input_signature=signature)


def _digits(text):
    import tensorflow as tf

    chars = tf.strings.unicode_split(text, "UTF-8")
    ok = tf.reduce_all(tf.strings.regex_full_match(chars, "[0-9]")) & (tf.size(chars) > 0)
    check = tf.debugging.Assert(ok, ["expected digits 0-9, got:", text])
    with tf.control_dependencies([check]):
        return tf.strings.to_number(chars, tf.int32)


def _task_signature(archive, model, task) -> None:
    import tensorflow as tf

    if task.name == "adder":

        def serve(text):
            parts = tf.strings.split(text, "+")
            check = tf.debugging.Assert(tf.size(parts) == 2, ["expected a+b, got:", text])
            with tf.control_dependencies([check]):
                a, b = tf.reverse(_digits(parts[0]), [0]), tf.reverse(_digits(parts[1]), [0])
            steps = tf.maximum(tf.size(a), tf.size(b)) + 1
            pairs = tf.stack(
                [tf.pad(a, [[0, steps - tf.size(a)]]), tf.pad(b, [[0, steps - tf.size(b)]])], 1
            )
            digits = tf.argmax(model({"digits": pairs[None]})[0], -1, output_type=tf.int32)
            text_out = tf.strings.reduce_join(tf.strings.as_string(tf.reverse(digits, [0])))
            stripped = tf.strings.regex_replace(text_out, "^0+", "")
            return {"sum": tf.where(stripped == "", "0", stripped)}

        signature = [tf.TensorSpec([], tf.string, name="text")]
    elif task.name == "palindrome":

        def serve(text):
            logits = model({"tokens": _digits(text)[None]})[0]
            return {
                "digit": tf.strings.as_string(tf.argmax(logits, output_type=tf.int32)),
                "probabilities": tf.nn.softmax(logits),
            }

        signature = [tf.TensorSpec([], tf.string, name="text")]
    else:

        def serve(values, times, mask):
            logits = model({"values": values, "times": times, "mask": mask})
            return {"probabilities": tf.nn.softmax(logits)}

        signature = [
            tf.TensorSpec([None, None, 1], tf.float32, name="values"),
            tf.TensorSpec([None, None], tf.float64, name="times"),
            tf.TensorSpec([None, None], tf.bool, name="mask"),
        ]
    archive.add_endpoint("serving_default", serve, input_signature=signature)


def task_vocabulary(task) -> list[str]:
    """The strings a task's token ids stand for (digits for the numeric tasks)."""
    vocabulary = getattr(task, "vocabulary", None)
    return list(vocabulary) if vocabulary is not None else [str(d) for d in range(10)]


def build_archive(model, task):
    """A `keras.export.ExportArchive` of `model` with the signatures its task calls for."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    if generates(task):
        _generation_signatures(archive, model, task, task_vocabulary(task))
    else:
        _task_signature(archive, model, task)
    return archive


def export_run(run: str | os.PathLike, out: str | os.PathLike, force: bool = False) -> Path:
    """Exports the model of `run` (its latest checkpoint) to the SavedModel folder `out`."""
    from seqrnn.training.restore import load_run

    out = Path(out)
    if out.exists() and not out.is_dir():  # never replaced, even with force
        raise UsageError(f"{out} is a file, not a folder; choose another --out for the SavedModel")
    if out.exists() and any(out.iterdir()) and not force:
        raise UsageError(f"{out} already exists; pass --force to replace it or choose --out")
    loaded = load_run(run)
    model, task = loaded.model, loaded.task
    vocabulary = task_vocabulary(task)
    archive = build_archive(model, task)
    # Written next to the target and moved in place: a failure leaves what was there intact.
    staging = Path(
        tempfile.mkdtemp(prefix=".export-", dir=out.parent if out.parent.exists() else None)
    )
    try:
        target = staging / "model"
        archive.write_out(str(target), verbose=False)
        assets = target / "assets"
        assets.mkdir(exist_ok=True)
        (assets / "vocabulary.json").write_text(json.dumps(vocabulary), encoding="utf-8")
        (assets / "config.json").write_text(loaded.folder.config.read_text(encoding="utf-8"))
        prime = ""
        if task.name == "text":  # a text model needs a prime: the first held-out character
            prime = task.decode(task.default_prime())
        marker = {
            "task": task.name,
            "default_prime": prime,
            "step": loaded.step,
            "generates": generates(task),
            "max_length": MAX_LENGTH,
        }
        (assets / MARKER).write_text(json.dumps(marker), encoding="utf-8")
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            shutil.rmtree(out)
        os.replace(target, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def read_marker(folder: str | os.PathLike) -> dict[str, Any]:
    """The seqrnn description of an exported folder; a usage error if it is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder; give a SavedModel from seqrnn export")
    marker = folder / "assets" / MARKER
    if not (folder / "saved_model.pb").exists() or not marker.exists():
        raise UsageError(
            f"{folder} is not a seqrnn SavedModel (no saved_model.pb and assets/{MARKER}); "
            "export one with seqrnn export RUN"
        )
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        data["vocabulary"] = json.loads(
            (folder / "assets" / "vocabulary.json").read_text(encoding="utf-8")
        )
    except (OSError, ValueError) as error:
        raise SeqrnnError(f"{folder}: damaged assets ({error})") from None
    return data
