"""seqrnn: recurrent sequence models for Keras 3.

Importing seqrnn registers its cells and layers with Keras (package "seqrnn"), so models saved
with them load with `keras.models.load_model` and no `custom_objects`.
"""

import os
from importlib.metadata import PackageNotFoundError, version

# TensorFlow's default CPU allocator returns large buffers to the system when they are freed,
# so every training step faults in the pages of its big buffers afresh: filling the fused
# loops' output buffers took 18 ms of a 140 ms LSTM bench step, 3.4 ms with the BFC allocator,
# which keeps freed memory for reuse. TensorFlow reads this when it allocates its first tensor,
# so importing seqrnn before running any TensorFlow op is enough; a value already in the
# environment (TF_CPU_ALLOCATOR_USE_BFC=false) is left alone.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")


from seqrnn.cells import GRUCell, LSTMCell, PhasedLSTMCell, VanillaRNNCell
from seqrnn.errors import SeqrnnError, UsageError
from seqrnn.layers import GRU, LSTM, PhasedLSTM, VanillaRNN

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
    "UsageError",
    "VanillaRNN",
    "VanillaRNNCell",
    "__version__",
]
