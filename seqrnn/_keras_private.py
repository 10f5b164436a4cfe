"""The one place where seqrnn imports private Keras (`keras.src`).

`keras.layers.RNN` prepares and clears dropout masks only for cells that inherit Keras'
`DropoutRNNCell` mix-in, and it does so outside the step loop, which is what keeps the loop
stateless on the JAX backend. Keras exports no public name for the mix-in, so it is imported here
and nowhere else. So are the backend kernels that Keras' LSTM and GRU call for cuDNN
(`keras.src.backend.lstm` and `gru`: cuDNN on a TensorFlow GPU, `NotImplementedError` otherwise).
And a variable's `_autocast` flag: a stateful layer's states must be read and assigned in their
own dtype inside a mixed-precision call (`without_autocast`).
`tests/test_keras_private.py` fails loudly if a Keras release moves them.
"""

import keras
from keras.src.backend import gru as backend_gru
from keras.src.backend import lstm as backend_lstm
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

__all__ = ["DropoutRNNCell", "backend_gru", "backend_lstm", "without_autocast"]


def without_autocast(variable: keras.Variable) -> keras.Variable:
    """`variable` read in its own dtype inside an autocast scope (a mixed-precision layer's
    call), as if created with `autocast=False`. Keras' PyTorch variable assigns through its
    `value`, which inside the scope is a float16 or bfloat16 copy: a stateful RNN's states never
    changed under mixed precision there (Keras 3.15, its own layers as well)."""
    variable._autocast = False
    return variable
