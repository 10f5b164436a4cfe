"""Training: settings, the run folder and the distributed GradientTape loop."""

from seqrnn.errors import Interrupted, NonFinite
from seqrnn.training.config import OPTIMIZERS, STRATEGIES, TrainConfig
from seqrnn.training.loop import Summary, Trainer, make_strategy, split_cpu
from seqrnn.training.restore import LoadedRun, load_run
from seqrnn.training.runs import RunFolder

__all__ = [
    "OPTIMIZERS",
    "STRATEGIES",
    "Interrupted",
    "LoadedRun",
    "NonFinite",
    "RunFolder",
    "Summary",
    "TrainConfig",
    "Trainer",
    "load_run",
    "make_strategy",
    "split_cpu",
]
