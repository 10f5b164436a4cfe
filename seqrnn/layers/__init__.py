"""Recurrent layers: thin `keras.layers.RNN` wrappers around seqrnn's cells."""

from seqrnn.layers.gru import GRU
from seqrnn.layers.lstm import LSTM
from seqrnn.layers.phased_lstm import PhasedLSTM
from seqrnn.layers.vanilla_rnn import SimpleRNN, VanillaRNN

__all__ = ["GRU", "LSTM", "PhasedLSTM", "SimpleRNN", "VanillaRNN"]
