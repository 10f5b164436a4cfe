"""The palindrome memory task: accuracy against the length to remember."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqrnn.experiments.framework import (
    Outcome,
    Spec,
    Study,
)
from seqrnn.experiments.report import bar, find, pivot, table
from seqrnn.plotting import line_plots


class Palindrome(Study):
    name = "palindrome"
    title = "Remembering the first digit: palindrome accuracy against length"
    source = "seed 004 (vanilla, LSTM, GRU and Phased LSTM; T from 5 to 100)"

    def specs(self) -> list[Spec]:
        lengths = (5,) if self.quick else (5, 10, 15, 20, 30, 50, 100)
        cells = ("lstm", "phased") if self.quick else ("vanilla", "lstm", "gru", "phased")
        # The gated cells again with chrono initialization for dependencies of T steps.
        chrono = ("lstm",) if self.quick else ("lstm", "gru")
        specs = []
        for cell, chrono_init in [(c, False) for c in cells] + [(c, True) for c in chrono]:
            label = f"{cell}+chrono" if chrono_init else cell
            for length in lengths:
                config = {"task": "palindrome", "cell": cell, "units": 8 if self.quick else 128}
                config |= {"batch_size": 64, "steps": 10 if self.quick else 2000, "lr": 2e-3}
                config["task_settings"] = {"length": length}
                if chrono_init:
                    config["chrono_init"] = length
                key = f"{label.replace('+', '_')}-T{length}"
                specs.append(Spec(key, {"cell": label, "T": length}, config))
        return specs

    def report(self, outcomes: list[Outcome], folder: Path) -> str:
        lengths = sorted({o.spec.labels["T"] for o in outcomes})
        cells = list(dict.fromkeys(o.spec.labels["cell"] for o in outcomes))
        rows = pivot(outcomes, lambda labels: f"T={labels['T']}")
        series = []
        for cell in cells:
            points = [
                (o.spec.labels["T"], o.metrics.get("accuracy") or 0.0)
                for o in outcomes
                if o.spec.labels["cell"] == cell
            ]
            series.append(
                (cell, np.array([p[0] for p in points], float), np.array([p[1] for p in points]))
            )
        line_plots(
            [("accuracy by T", series)],
            folder / "palindrome_accuracy.png",
            xlabel="T, the digits to remember",
            ylabel="test accuracy",
        )
        return "\n\n".join(
            [
                "Accuracy of the last digit (which must equal the first) on the test split "
                f"(640 palindromes), after {outcomes[0].spec.config['steps']} steps of Adam.",
                table(rows, ["cell", *[f"T={n}" for n in lengths]]),
                bar(
                    "LSTM accuracy at T = 50 (default initialization)",
                    find(outcomes, cell="lstm", T=50),
                    "accuracy",
                    0.99,
                    "a published student run reached 93.1%",
                ),
                bar(
                    "LSTM accuracy at T = 50 (`--chrono-init 50`)",
                    find(outcomes, cell="lstm+chrono", T=50),
                    "accuracy",
                    0.99,
                    "a published student run reached 93.1%",
                ),
                "![accuracy by T](palindrome_accuracy.png)",
            ]
        )
