"""Training: the run folder, the distributed GradientTape loop and its parts (the step, the
records, the checkpoints, the validation). Settings: `seqrnn.settings`; loading a run back:
`seqrnn.restore`."""

from seqrnn.errors import Interrupted, NonFinite
from seqrnn.settings import OPTIMIZERS, STRATEGIES, TrainConfig
from seqrnn.training.loop import Summary, Trainer, make_strategy, split_cpu
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
