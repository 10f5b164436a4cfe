"""The RNN adder: trained on short numbers, tested on far longer ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqrnn.experiments.framework import (
    Outcome,
    Spec,
    Study,
    evaluator_for,
    open_evaluator,
)
from seqrnn.experiments.report import bar, curve, find, table
from seqrnn.plotting import line_plots


class Adder(Study):
    name = "adder"
    title = "An RNN adder: cells, sizes, learning rates and length generalisation"
    source = "seed 002 (vanilla/LSTM/GRU x hidden x layers x learning rate; data distributions)"
    TEST_DIGITS = ((1, 10), (1, 100), (1, 1000))

    def specs(self) -> list[Spec]:
        if self.quick:
            grid = [("lstm", 8, 1, 1e-2)]
            trains = [(1, 2)]
            steps = 20
        else:
            grid = [
                (cell, hidden, layers, lr)
                for cell in ("vanilla", "lstm", "gru")
                for hidden in (16, 32, 64)
                for layers in (1, 2, 4, 8)
                for lr in (1e-3, 1e-2, 5e-2, 1e-1)
            ]
            trains = [(1, 2), (1, 5), (1, 10)]
            steps = 1500
        # The grid is 144 runs: 500 steps each keeps it under two hours on 2 CPU cores.
        grid_steps = steps if self.quick else 500

        def common(steps: int) -> dict[str, Any]:
            # Validation (on the training distribution) ten times per run: the accuracy curves.
            every = steps if self.quick else steps // 10
            return {"embedding_dim": 8, "batch_size": 64, "steps": steps, "eval_every": every}

        specs = []
        for train in trains:  # first: the bar is measured here
            config = {"task": "adder", "cell": "lstm", "units": 8 if self.quick else 64}
            config |= {"lr": 1e-2, **common(steps)}
            config["task_settings"] = {"train_digits": list(train), "test_digits": [1, 100]}
            labels = {"part": "distribution", "train": f"below 10^{train[1]}"}
            specs.append(Spec(f"distribution-{train[1]}", labels, config))
        for cell, hidden, layers, lr in grid:
            config = {"task": "adder", "cell": cell, "units": hidden, "layers": layers, "lr": lr}
            config |= common(grid_steps)
            config["task_settings"] = {"train_digits": [1, 5], "test_digits": [1, 100]}
            labels = {"part": "grid", "cell": cell, "hidden": hidden, "layers": layers, "lr": lr}
            specs.append(Spec(f"{cell}-h{hidden}-l{layers}-lr{lr:g}", labels, config))
        return specs

    def measure(self, run_path: Path, spec: Spec, step: int) -> dict[str, Any]:
        from seqrnn.tasks import make_task

        loaded, evaluator = open_evaluator(run_path)
        metrics = dict(evaluator.evaluate("test", samples=0))
        if spec.labels["part"] == "distribution":
            tests = self.TEST_DIGITS[:1] if self.quick else self.TEST_DIGITS
            for test in tests:
                train = spec.config["task_settings"]["train_digits"]
                task = make_task(
                    "adder",
                    train_digits=train,
                    test_digits=list(test),
                    num_eval_batches=2 if self.quick else 10,
                )
                exact = evaluator_for(loaded, task).evaluate("test")["exact_match"]
                metrics[f"exact below 10^{test[1]}"] = exact
        return metrics

    def report(self, outcomes: list[Outcome], folder: Path) -> str:
        grid = [o for o in outcomes if o.spec.labels["part"] == "grid"]
        dist = [o for o in outcomes if o.spec.labels["part"] == "distribution"]
        columns = ["cell", "hidden", "layers", "lr", "loss", "accuracy", "exact_match"]
        tests = [f"exact below 10^{t[1]}" for t in self.TEST_DIGITS]
        parts = [
            f"## Data distribution (LSTM, {dist[0].spec.config['units']} units, lr 1e-2)",
            "Trained on operands below 10^2, 10^5 or 10^10; exact match (every digit of the sum "
            "right) on operands of 1-10, 1-100 and 1-1000 digits.",
            table([{**o.spec.labels, **o.metrics} for o in dist], ["train", *tests]),
            bar(
                "exact match on sums of up to 100-digit operands when trained below 10^5",
                find(dist, train="below 10^5"),
                "exact below 10^100",
                1.0,
                "seed 002 reports 1.0",
            ),
        ]
        if grid:
            cells = list(dict.fromkeys(o.spec.labels["cell"] for o in grid))
            lrs = sorted({o.spec.labels["lr"] for o in grid})
            shown = 1e-2 if 1e-2 in lrs else lrs[0]
            panels = []
            for column, what in (("loss", "training loss"), ("val_accuracy", "digit accuracy")):
                for cell in cells:
                    runs = [o for o in grid if o.spec.labels["cell"] == cell]
                    runs = [o for o in runs if o.spec.labels["lr"] == shown]
                    series = [
                        (
                            f"h{o.spec.labels['hidden']} l{o.spec.labels['layers']}",
                            *curve(o.rows, column),
                        )
                        for o in runs
                    ]
                    panels.append((f"{cell} {what} (lr {shown:g})", series))
            line_plots(panels, folder / "adder_curves.png")
            parts += [
                "## Cells, sizes and learning rates",
                "Trained on operands below 10^5 (1-5 digits) for "
                f"{grid[0].spec.config['steps']} steps of Adam, batch 64; loss and digit accuracy "
                "on the test split, operands of 1-100 digits; exact match is the fraction of "
                "test sums right in every digit.",
                table([{**o.spec.labels, **o.metrics} for o in grid], columns),
                f"![training loss and validation digit accuracy at lr {shown:g}](adder_curves.png)",
            ]
        return "\n\n".join(parts)
