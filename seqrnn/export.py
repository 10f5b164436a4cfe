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
  replaced. An empty prime continues the burn-in of a text model trained in sequential or
  chunks mode (see `seqrnn.generation`); one trained on random windows needs a non-empty
  prime. `length` must lie in 0..MAX_LENGTH.
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
from seqrnn.folders import check_replaceable
from seqrnn.generation import MAX_LENGTH, generator_for

#: What identifies a seqrnn SavedModel: this file inside its assets.
MARKER = "seqrnn.json"


class ServingKit:
    """What a task's `serving` signature is built from: the model, its generator (None when
    the model does not generate), the token names as a string tensor, and in-graph helpers."""

    def __init__(self, model, task) -> None:
        import tensorflow as tf

        self.model, self.task = model, task
        self.generator = generator_for(model, task)
        self.vocabulary = tf.constant(task.token_names())

    def encode(self, prime):
        """The ids a sample of `prime` (a string tensor) starts from: the task's prefix, then
        one id per Unicode character; a character outside the vocabulary is an error naming it
        (InvalidArgumentError), never dropped or replaced."""
        import tensorflow as tf

        special = self.task.special_tokens  # a grammar's <pad>, <start>, <end> are no characters
        chars = tf.strings.unicode_split(prime, "UTF-8")
        matches = tf.equal(chars[:, None], self.vocabulary[None, special:])
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
        prefix = self.task.prime_prefix()
        return tf.concat([tf.constant(prefix, tf.int32), ids], axis=0) if prefix else ids

    def decode(self, ids, lengths):
        """Rows of ids (each `lengths` long) as strings."""
        import tensorflow as tf

        rows = tf.RaggedTensor.from_tensor(ids, lengths=lengths)
        return tf.strings.reduce_join(tf.gather(self.vocabulary, rows), axis=1)

    @staticmethod
    def digits(text):
        """The digits 0-9 of a string tensor as int32; an error for anything else."""
        import tensorflow as tf

        chars = tf.strings.unicode_split(text, "UTF-8")
        ok = tf.reduce_all(tf.strings.regex_full_match(chars, "[0-9]")) & (tf.size(chars) > 0)
        check = tf.debugging.Assert(ok, ["expected digits 0-9, got:", text])
        with tf.control_dependencies([check]):
            return tf.strings.to_number(chars, tf.int32)


def _generation_signatures(archive, kit: ServingKit) -> None:
    import tensorflow as tf

    generator, stop = kit.generator, kit.task.stop_id

    def generate(prime, length, temperature, top_k, top_p, seed, num_samples):
        ids = kit.encode(prime)
        checks = [
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
        if not kit.task.starts_without_prime:  # a burn-in continues from nothing
            empty = tf.debugging.assert_greater(
                tf.size(ids), 0, message="the prime must not be empty"
            )
            checks.append(empty)
        with tf.control_dependencies(checks):
            out, lengths = generator.generate_ids(
                ids, length, temperature, top_k, top_p, seed, num_samples, stop
            )
        return {"samples": kit.decode(out, lengths)}

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


def build_archive(model, task):
    """A `keras.export.ExportArchive` of `model` with the signatures its task calls for."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    kit = ServingKit(model, task)
    if kit.generator is not None:
        _generation_signatures(archive, kit)
    serve, signature = task.serving(kit)
    archive.add_endpoint("serving_default", serve, input_signature=signature)
    return archive


def export_run(
    run: str | os.PathLike, out: str | os.PathLike, force: bool = False, weights: str | None = None
) -> Path:
    """Exports the model of `run` to the SavedModel folder `out`: its best or last weights
    (`weights`; by default the run's export_weights, see `seqrnn.restore.load_run`)."""
    from seqrnn.restore import load_run

    out = Path(out)
    if out.exists() and not out.is_dir():  # never replaced, even with force
        raise UsageError(
            f"{out} is a file, not a folder; choose another out folder for the SavedModel", "out"
        )
    if out.exists() and any(out.iterdir()) and not force:
        raise UsageError(
            f"{out} already exists; pass force to replace it or choose another out",
            "force",
            "out",
        )
    if out.exists() and any(out.iterdir()):
        what = "a SavedModel seqrnn exported"
        check_replaceable(out, f"assets/{MARKER}", what, ((run, "the run to export"),))
    loaded = load_run(run, weights)
    model, task = loaded.model, loaded.task
    vocabulary = task.token_names()
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
        marker = {
            "task": task.name,
            "default_prime": task.default_prime_text(),
            "needs_prime": not task.starts_without_prime,  # nothing to start from without one
            "step": loaded.step,
            "weights": loaded.weights,
            "generates": task.generates,
            "max_length": MAX_LENGTH,
            "run": str(Path(run).resolve()),  # which run this is the export of
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
        what = "a file, not a folder" if folder.exists() else "no such folder"
        raise UsageError(f"{folder}: {what}; give a SavedModel from seqrnn export")
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
