"""The one place where seqrnn imports private Keras (`keras.src`).

`keras.layers.RNN` prepares and clears dropout masks only for cells that inherit Keras'
`DropoutRNNCell` mix-in, and it does so outside the step loop, which is what keeps the loop
stateless on the JAX backend. The Phased LSTM layer runs two sequences (inputs and timestamps, of
different dtypes) through one loop, which needs the backend's `rnn` function with nested inputs.
Keras exports no public name for either, so they are imported here and nowhere else;
`tests/test_keras_private.py` fails loudly if a Keras release moves them.
"""

from keras.src.backend import rnn as backend_rnn
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

__all__ = ["DropoutRNNCell", "backend_rnn"]
