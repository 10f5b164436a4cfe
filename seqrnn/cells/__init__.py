"""One recurrent step per class, written with `keras.ops` only (any Keras backend)."""

from seqrnn.cells.gru_cell import GRUCell
from seqrnn.cells.lstm_cell import LSTMCell
from seqrnn.cells.phased_lstm_cell import PhasedLSTMCell
from seqrnn.cells.vanilla_rnn_cell import SimpleRNNCell, VanillaRNNCell

__all__ = ["GRUCell", "LSTMCell", "PhasedLSTMCell", "SimpleRNNCell", "VanillaRNNCell"]
