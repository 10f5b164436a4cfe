"""Seed 001's study: analytic gradients against numerical ones for every cell."""

from __future__ import annotations

from pathlib import Path

from seqrnn.experiments.framework import (
    Outcome,
    Spec,
    Study,
)
from seqrnn.experiments.report import table

#: Seed 001's tables (DD2424's vanilla RNN in Matlab: a = W h + U x + b, o = V h + c; max
#: abs and max rel error by sequence length 5, 10, 15, 20, 25), under seqrnn's names.
SEED_001 = {
    "kernel": ("U", [4.30e-09, 9.28e-09, 1.58e-08, 2.55e-08, 4.60e-08],
               [3.98e-11, 3.38e-11, 3.56e-11, 5.65e-11, 7.27e-11]),
    "recurrent_kernel": ("W", [5.76e-09, 1.18e-08, 2.15e-08, 3.36e-08, 4.32e-08],
                         [9.86e-12, 7.89e-12, 8.38e-12, 1.09e-11, 9.38e-12]),
    "bias": ("b", [3.37e-09, 8.39e-09, 1.57e-08, 2.21e-08, 2.98e-08],
             [5.59e-11, 9.74e-11, 1.09e-10, 1.44e-10, 1.25e-10]),
    "readout_kernel": ("V", [4.78e-09, 1.13e-08, 2.25e-08, 3.35e-08, 4.06e-08],
                       [2.38e-11, 3.29e-11, 4.09e-11, 4.65e-11, 3.35e-11]),
    "readout_bias": ("c", [3.35e-09, 1.80e-10, 1.48e-08, 1.96e-08, 2.82e-08],
                     [1.76e-10, 6.52e-09, 2.82e-10, 2.84e-10, 3.41e-10]),
}  # fmt: skip
SEED_LENGTHS = [5, 10, 15, 20, 25]


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
            "Fourth-order centered differences in float64 (eps 1e-3); each cell is `max abs / "
            "max rel` over the parameter's elements, REL being the elementwise relative error "
            "with a floor of 1e-3 (see `seqrnn gradcheck --help`)."
        ]
        results = {}
        for cell in ("vanilla", "lstm", "gru", "phased"):
            result = results[cell] = check_cell(cell, lengths, units=3 if self.quick else 5)
            rows = []
            for name, errors in result.errors.items():
                row = {"parameter": name}
                for length, error in zip(lengths, errors, strict=True):
                    row[f"T={length}"] = f"{error['abs']:.1e} / {error['rel']:.1e}"
                rows.append(row)
            parts.append(f"## {cell} ({result.path} path)")
            parts.append(table(rows, ["parameter", *[f"T={n}" for n in lengths]]))
        if lengths == SEED_LENGTHS:
            parts += self._beside_the_seed(results["vanilla"])
        return "\n\n".join(parts)

    @staticmethod
    def _beside_the_seed(result) -> list[str]:
        rows = []
        for name, (symbol, abs_errors, rel_errors) in SEED_001.items():
            ours = result.errors[name]
            for who, values in (
                (
                    "seed 001",
                    [f"{a:.1e} / {r:.1e}" for a, r in zip(abs_errors, rel_errors, strict=True)],
                ),
                ("seqrnn", [f"{e['abs']:.1e} / {e['rel']:.1e}" for e in ours]),
            ):
                row = {"parameter": f"{symbol} ({name})", "by": who}
                row.update({f"T={n}": v for n, v in zip(SEED_LENGTHS, values, strict=True)})
                rows.append(row)
        columns = ["parameter", "by", *[f"T={n}" for n in SEED_LENGTHS]]
        return [
            "## The vanilla RNN beside seed 001",
            "Seed 001 checked DD2424's vanilla RNN (Matlab, centered differences with a step "
            "of 1e-6, its own relative error; the size of the checked network is not "
            "stated) and found every error below 1e-8; so does seqrnn's vanilla layer (5 "
            "units, random data). The figures are not the same quantity: the absolute errors "
            "scale with the size of the gradients, and the relative errors differ in their "
            "definition (seqrnn's has a floor of 1e-3 under the denominator, so that elements "
            "whose gradient is near zero do not count "
            "as failures), and in the difference rule (fourth-order with eps 1e-3 here, whose "
            "truncation error is of order eps^4, against the seed's second-order rule).",
            table(rows, columns),
        ]
