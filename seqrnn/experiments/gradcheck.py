"""Seed 001's study: analytic gradients against numerical ones for every cell."""

from __future__ import annotations

from pathlib import Path

from seqrnn.experiments.framework import (
    Outcome,
    Spec,
    Study,
)
from seqrnn.experiments.report import table


class GradcheckStudy(Study):
    name = "gradcheck"
    title = "Analytic against numerical gradients, every cell"
    source = "seed 001 (per-parameter relative error, sequence lengths 5 to 25)"

    def specs(self) -> list[Spec]:
        return []

    def report(self, outcomes: list[Outcome], folder: Path) -> str:
        from seqrnn.gradcheck import check_cell

        lengths = [3, 5] if self.quick else [5, 10, 15, 20, 25]
        parts = [
            "Fourth-order centered differences in float64 (eps 1e-3); REL is the elementwise "
            "relative error with a floor of 1e-3 (see `seqrnn gradcheck --help`)."
        ]
        for cell in ("vanilla", "lstm", "gru", "phased"):
            result = check_cell(cell, lengths, units=3 if self.quick else 5)
            rows = []
            for name, errors in result.errors.items():
                row = {"parameter": name}
                for length, error in zip(lengths, errors, strict=True):
                    row[f"T={length}"] = f"{error['rel']:.1e}"
                rows.append(row)
            parts.append(f"## {cell} ({result.path} path)")
            parts.append(table(rows, ["parameter", *[f"T={n}" for n in lengths]]))
        return "\n\n".join(parts)


# --- seed 002: the adder ----------------------------------------------------------------------
