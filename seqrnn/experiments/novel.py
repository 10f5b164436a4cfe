"""Seeds 001 and 004: a character model of a book, its smooth loss and samples by temperature.

Two models of the same book: the DD2424 vanilla RNN of seed 001 (100 units, windows of 25
characters read in order, AdaGrad 0.1, gradients clipped to +-5, batch 1, the smooth loss as
min-char-rnn defines it) and an LSTM as seed 004 trained one (its report says "default
parameters" without listing them; seqrnn's run: 2 layers of 128 units, windows of 30, batch 64,
Adam 2e-3). Each is measured on the held-out end of the book (nats per character, next-character
accuracy) and sampled at temperatures 0.5, 1 and 2, as seed 004 shows its samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqrnn.experiments.framework import (
    QUICK_VAL_CHARS,
    Outcome,
    Spec,
    Study,
    open_evaluator,
    read_rows,
)
from seqrnn.experiments.report import curve, label, table
from seqrnn.plotting import line_plots

TEMPERATURES = (0.5, 1.0, 2.0)
SAMPLES = 3  # per temperature
#: The seeds' figures, quoted: seed 001's smooth loss (Goblet of Fire; its long run read windows
#: of 20 characters, so its sums cover 20 where ours cover 25) at 20,000, 105,000 and 331,000
#: updates, and seed 004's LSTM on Democracy in America after about 500,000 steps.
SEED_FIGURES = {
    "rnn": "smooth loss 53.26 at 20,000 updates and 49.37 at 100,000 (seed 001, windows of 25); "
    "its longish run (windows of 20): 42.14 at 20,000, 37.91 at 105,000, 34.08 at 331,000",
    "lstm": "accuracy about 0.68 after about 500,000 steps (seed 004)",
}


class Novel(Study):
    name = "novel"
    title = "Character models of a book: a vanilla RNN and an LSTM, sampled by temperature"
    source = "seeds 001 (the DD2424 vanilla RNN) and 004 (an LSTM on Democracy in America)"
    needs_text = True

    def specs(self) -> list[Spec]:
        quick = self.quick
        rnn = {"task": "text", "cell": "vanilla", "units": 8 if quick else 100}
        rnn |= {"embedding_dim": 8 if quick else 100, "optimizer": "adagrad", "lr": 0.1}
        rnn |= {"batch_size": 1, "clip_value": 5.0, "clip_norm": 0.0}
        rnn |= {"steps": 10 if quick else 100_000}
        rnn["task_settings"] = {"path": self.data, "mode": "sequential", "seq_len": 25}
        lstm = {"task": "text", "cell": "lstm", "units": 8 if quick else 128, "layers": 2}
        lstm |= {"embedding_dim": 8 if quick else 64, "optimizer": "adam", "lr": 2e-3}
        lstm |= {"batch_size": 64, "steps": 10 if quick else 6000}
        lstm["task_settings"] = {"path": self.data, "mode": "sequential", "seq_len": 30}
        if quick:  # validating a batch of 1 over the whole held-out tenth took most of the test
            for config in (rnn, lstm):
                config["task_settings"]["val_chars"] = QUICK_VAL_CHARS
        return [
            Spec("rnn", {"model": "rnn"}, rnn),
            Spec("lstm", {"model": "lstm"}, lstm),
        ]

    def measure(self, run_path: Path, spec: Spec, step: int) -> dict[str, Any]:
        _, evaluator = open_evaluator(run_path)
        metrics = dict(evaluator.evaluate("test", samples=0))
        rows = read_rows(run_path)
        metrics["final_smooth_loss"] = float(rows[-1]["smooth_loss"]) if rows else None
        length = 40 if self.quick else 200
        for k, temperature in enumerate(TEMPERATURES):  # a seed each: independent samples
            texts = evaluator.sample(SAMPLES, temperature, seed=step + k, length=length)
            metrics[f"samples T={temperature:g}"] = list(texts)
        return metrics

    def report(self, outcomes: list[Outcome], folder: Path) -> str:
        rows = []
        for o in outcomes:
            config = o.spec.config
            settings = (
                f"{config.get('layers', 1)} x {config['units']} "
                f"{config['cell']}, windows of {config['task_settings']['seq_len']}, batch "
                f"{config['batch_size']}, {config['optimizer']} {config['lr']:g}, "
                f"{config['steps']} steps"
            )
            rows.append(
                {**o.spec.labels, "settings": settings, **o.metrics,
                 "seed": SEED_FIGURES[o.spec.key]}
            )  # fmt: skip

        def per_character(o):
            steps, values = curve(o.rows, "smooth_loss")
            return label(o.spec), steps, values / o.spec.config["task_settings"]["seq_len"]

        panels = [
            ("smooth loss (nats per window, as the seeds plot it)",
             [(label(o.spec), *curve(o.rows, "smooth_loss")) for o in outcomes]),
            ("smooth loss per character (one scale for both)",
             [per_character(o) for o in outcomes]),
        ]  # fmt: skip
        line_plots(panels, folder / "novel.png", ylabel="nats")
        columns = ["model", "settings", "final_smooth_loss", "nats_per_char", "accuracy", "seed"]
        parts = [
            "Smooth loss: 0.999 x previous + 0.001 x the loss summed over a window (the LSTM's "
            "windows are 30 characters long, the RNN's 25: their smooth losses are not on one "
            "scale; nats per character are). `nats_per_char` and `accuracy` (of the next "
            "character) are measured on the held-out last 10% of the book.",
            table(rows, columns),
            "![smooth loss, per window and per character](novel.png)",
        ]
        parts.append(beside_the_seeds({o.spec.key: o for o in outcomes}))
        for o in outcomes:
            parts.append(f"## Samples of the {o.spec.labels['model']}")
            for temperature in TEMPERATURES:
                texts = o.metrics.get(f"samples T={temperature:g}", [])
                parts.append(f"Temperature {temperature:g} ({len(texts)} samples, one block each):")
                parts += ["\n".join(["```", t.replace("```", "'''"), "```"]) for t in texts]
        return "\n\n".join(parts)


def _smooth_at(outcome: Outcome, step: int) -> float | None:
    """The run's smooth loss at the last logged step up to `step`."""
    steps, values = curve(outcome.rows, "smooth_loss")
    before = [v for x, v in zip(steps, values, strict=True) if x <= step]
    return float(before[-1]) if before else None


def beside_the_seeds(runs: dict[str, Outcome]) -> str:
    """seqrnn's figures beside seeds 001's and 004's, and why they differ."""
    lines = ["## Beside the seeds", ""]
    rnn, lstm = runs.get("rnn"), runs.get("lstm")
    if rnn is not None:
        early, last = _smooth_at(rnn, 20_000), rnn.metrics.get("final_smooth_loss")
        steps, window = rnn.spec.config["steps"], rnn.spec.config["task_settings"]["seq_len"]
        shown = f"{early:.2f} at 20,000 updates, " if early is not None and steps > 20_000 else ""
        lines.append(
            f"- vanilla RNN: smooth loss {shown}{last:.2f} after {steps:,}. Seed 001's run of "
            "100,000 updates (windows of 25: its first smooth loss, 111.07, is 25 x ln 85): 53.26 "
            "at 20,000 and 49.37 at 100,000, its samples still letters without words at the "
            "end; its longish run, summed over windows of 20: 42.14 at 20,000, 37.91 at 105,000 "
            "and 29.19 at its best. "
            f"Held out: {rnn.metrics.get('nats_per_char', float('nan')):.3f} nats per character."
        )
        if early is not None and last is not None:
            lines.append(
                f"- per character (the smooth loss divided by the window): {early / window:.2f} "
                f"at 20,000 updates and {last / window:.2f} after {steps:,} here; 2.13 and 1.97 "
                "in seed 001's run of 100,000 updates, 2.11 and 1.90 (at 105,000) in its longish "
                f"run ({'lower' if early / window < 2.11 else 'higher'} here, on another book); "
                f"it fell by {(1 - last / early) * 100:.0f}% here from 20,000 updates to the end, "
                "by 7% and 10% in the seed's two runs."
            )
    if lstm is not None:
        lines.append(
            f"- LSTM: next-character accuracy {lstm.metrics.get('accuracy', float('nan')):.3f} on "
            f"the held-out text after {lstm.spec.config['steps']:,} steps of batch 64 (seed 004: "
            "about 0.68 after about 500,000 steps of a batch it does not give; its loss figure, "
            "0.126, is of another quantity the report does not define). Held out: "
            f"{lstm.metrics.get('nats_per_char', float('nan')):.3f} nats per character."
        )
    lines += [
        "",
        "Why the figures differ: seed 001's book (Goblet of Fire) is not public, so the RNN reads "
        "Democracy in America, seed 004's book. Levels on two books are not comparable, and "
        "these runs cannot separate the book's effect from the implementation's (seqrnn's RNN "
        "reads an embedding where the seed's read one-hot characters, and Keras' AdaGrad starts "
        "its accumulator at 0.1 where min-char-rnn's starts at 0); but the seed's run of "
        "100,000 updates, whose samples never formed words, fell short of what these settings "
        "reach: seqrnn's run of the same settings writes words by then. "
        "Seed 004 reports accuracy without saying on which text (ours is "
        "held out) and trained for far longer than this LSTM; at 50,000 steps it reported 0.57. "
        "`final_smooth_loss` is measured on the training text and `nats_per_char` on text the "
        "model never saw. The samples: at temperature 0.5 the "
        "models repeat their likeliest words, at 1 they draw from the learned distribution "
        "unchanged, at 2 the letters scatter; each continues the text of its own burn-in, so it "
        "may begin inside a word. Seed 004's samples, during training and of its best model, "
        "were full of newlines.",
    ]
    return "\n".join(lines)
