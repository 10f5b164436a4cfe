"""seqrnn experiment: the seeds' studies as grids of training runs, reported in Markdown.

A study lists its runs (`Spec`: a key, the grid coordinates and the training settings), each run
is trained with the ordinary training loop into `OUT/runs/KEY`, measured once it has finished
(`result.json` beside its metrics), and skipped when the study is run again. A run that was
interrupted is resumed from its last checkpoint; one the study now trains further is resumed
too; one whose settings changed since (or trained past a step the study now measures) is
renamed `KEY.outdated` and trained again. The report (`OUT/report.md` and PNG plots) is
drawn from the results, so re-running a finished study only redraws it. `quick` shrinks every
grid and every run to seconds, for tests.
"""

from __future__ import annotations

from pathlib import Path

from seqrnn.errors import UsageError
from seqrnn.experiments.adder import Adder
from seqrnn.experiments.framework import Outcome, Spec, Study, run_study
from seqrnn.experiments.frequency import Frequency
from seqrnn.experiments.gradcheck import GradcheckStudy
from seqrnn.experiments.grammars import Grammars
from seqrnn.experiments.novel import Novel
from seqrnn.experiments.optimizers import Optimizers
from seqrnn.experiments.palindrome import Palindrome

STUDIES: dict[str, type[Study]] = {
    s.name: s for s in (Optimizers, GradcheckStudy, Adder, Grammars, Palindrome, Frequency, Novel)
}


def make_study(name: str, quick: bool = False, data: str | None = None) -> Study:
    if name not in STUDIES:
        raise UsageError(f"unknown study {name!r}; choose one of {', '.join(STUDIES)}")
    study = STUDIES[name](quick=quick, data=data)
    if study.needs_text and not data:
        raise UsageError(f"study {name} trains on a text: pass data (a UTF-8 text file)", "data")
    if data and not study.needs_text:
        readers = " and ".join(s.name for s in STUDIES.values() if s.needs_text)
        raise UsageError(
            f"study {name} reads no text, so data would be ignored; only the "
            f"{readers} studies take it: drop it",
            "data",
        )
    if data and not Path(data).is_file():
        raise UsageError(f"{data} is not a file; data needs a UTF-8 text file", "data")
    return study


__all__ = [
    "STUDIES",
    "Adder",
    "Frequency",
    "GradcheckStudy",
    "Grammars",
    "Novel",
    "Optimizers",
    "Outcome",
    "Palindrome",
    "Spec",
    "Study",
    "make_study",
    "run_study",
]
