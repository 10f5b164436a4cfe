"""seqrnn: recurrent sequence models for Keras 3.

Importing seqrnn registers its cells and layers with Keras (package "seqrnn"), so models saved
with them load with `keras.models.load_model` and no `custom_objects`.
"""

from importlib.metadata import PackageNotFoundError, version

from seqrnn.cells import GRUCell, LSTMCell, PhasedLSTMCell, SimpleRNNCell, VanillaRNNCell
from seqrnn.errors import SeqrnnError, UsageError
from seqrnn.layers import GRU, LSTM, PhasedLSTM, SimpleRNN, VanillaRNN

try:
    __version__ = version("seqrnn")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "GRU",
    "LSTM",
    "GRUCell",
    "LSTMCell",
    "PhasedLSTM",
    "PhasedLSTMCell",
    "SeqrnnError",
    "SimpleRNN",
    "SimpleRNNCell",
    "UsageError",
    "VanillaRNN",
    "VanillaRNNCell",
    "__version__",
]
