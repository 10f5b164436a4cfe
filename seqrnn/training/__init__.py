"""Training: settings, the run folder and the distributed GradientTape loop."""

from seqrnn.training.config import OPTIMIZERS, STRATEGIES, TrainConfig
from seqrnn.training.loop import Interrupted, NonFinite, Summary, Trainer, make_strategy, split_cpu
from seqrnn.training.runs import RunFolder

__all__ = [
    "OPTIMIZERS",
    "STRATEGIES",
    "Interrupted",
    "NonFinite",
    "RunFolder",
    "Summary",
    "TrainConfig",
    "Trainer",
    "make_strategy",
    "split_cpu",
]
