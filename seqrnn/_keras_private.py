"""The one place where seqrnn imports private Keras (`keras.src`).

`keras.layers.RNN` prepares and clears dropout masks only for cells that inherit Keras'
`DropoutRNNCell` mix-in, and it does so outside the step loop, which is what keeps the loop
stateless on the JAX backend. Keras exports no public name for the mix-in, so it is imported here
and nowhere else. So are the backend kernels that Keras' LSTM and GRU call for cuDNN
(`keras.src.backend.lstm` and `gru`: cuDNN on a TensorFlow GPU, `NotImplementedError` otherwise).
`tests/test_keras_private.py` fails loudly if a Keras release moves them.
"""

from keras.src.backend import gru as backend_gru
from keras.src.backend import lstm as backend_lstm
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

__all__ = ["DropoutRNNCell", "backend_gru", "backend_lstm"]
