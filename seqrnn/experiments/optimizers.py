"""Seed 000's study: AdaGrad against Adam, window schemes and batch sizes on a text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqrnn.experiments.framework import (
    Outcome,
    Spec,
    Study,
    read_rows,
)
from seqrnn.experiments.report import plot, table

SEED_LRS = {"adagrad": 0.1, "adam": 1e-3, "rmsprop": 1e-3}


class Optimizers(Study):
    name = "optimizers"
    title = "Optimisers, sampling schemes and batch size of a character RNN"
    source = "seed 000 (vanilla RNN, 100 units, sequences of 25, a novel)"
    needs_text = True

    def specs(self) -> list[Spec]:
        steps = 10 if self.quick else 20000
        units = 8 if self.quick else 100
        base = {"task": "text", "cell": "vanilla", "units": units, "embedding_dim": units}
        base |= {"clip_value": 5.0, "clip_norm": 0.0, "steps": steps}

        def text(mode):
            return {"path": self.data, "mode": mode, "seq_len": 25}

        specs = []
        for optimizer, lr in SEED_LRS.items():
            config = base | {"optimizer": optimizer, "lr": lr, "batch_size": 1}
            config["task_settings"] = text("sequential")
            specs.append(
                Spec(f"opt-{optimizer}", {"part": "optimizer", "setting": optimizer}, config)
            )
        for mode in ("random", "chunks"):
            config = base | {"optimizer": "adagrad", "lr": 0.1, "batch_size": 1}
            config["task_settings"] = text(mode)
            specs.append(Spec(f"mode-{mode}", {"part": "sampling", "setting": mode}, config))
        config = base | {"optimizer": "adagrad", "lr": 0.1, "batch_size": 2}
        config["task_settings"] = text("sequential")
        specs.append(Spec("batch-2", {"part": "batch size", "setting": "2"}, config))
        return specs

    def measure(self, run_path: Path, spec: Spec, step: int) -> dict[str, Any]:
        rows = read_rows(run_path)
        metrics = dict(super().measure(run_path, spec, step))
        metrics["final_smooth_loss"] = float(rows[-1]["smooth_loss"]) if rows else None
        return metrics

    def report(self, outcomes: list[Outcome], folder: Path) -> str:
        rows = [{**o.spec.labels, **o.metrics} for o in outcomes]
        parts = [
            "Smooth loss as in min-char-rnn (0.999 x previous + 0.001 x the window's summed loss; "
            "sequential is the seed's baseline, batch 1, AdaGrad 0.1 unless the row says "
            "otherwise).",
            table(rows, ["part", "setting", "final_smooth_loss", "loss", "bits_per_char"]),
            plot(outcomes, "smooth_loss", "SMOOTH LOSS", folder, "smooth_loss.png"),
        ]
        return "\n\n".join(parts)
