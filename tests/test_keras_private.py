"""Private Keras that seqrnn relies on (seqrnn/_keras_private.py): fails loudly if it moves."""

from __future__ import annotations

import keras
import numpy as np

import seqrnn
from seqrnn._keras_private import DropoutRNNCell, backend_gru, backend_lstm
from tests.conftest import to_numpy


def test_dropout_mix_in_is_the_one_keras_rnn_recognizes():
    from keras.src.layers.rnn import rnn as keras_rnn

    assert keras_rnn.DropoutRNNCell is DropoutRNNCell
    for name in (
        "get_dropout_mask",
        "get_recurrent_dropout_mask",
        "reset_dropout_mask",
        "reset_recurrent_dropout_mask",
    ):
        assert callable(getattr(DropoutRNNCell, name)), name
    for cell_class in (
        seqrnn.VanillaRNNCell,
        seqrnn.LSTMCell,
        seqrnn.GRUCell,
        seqrnn.PhasedLSTMCell,
    ):
        assert issubclass(cell_class, DropoutRNNCell)


def test_one_dropout_mask_per_sequence_and_a_new_one_per_call():
    # Constant inputs make every step identical, so with one input mask per sequence (and no
    # recurrent dropout) the units dropped at step 1 are dropped at every step. Each input weighs
    # differently, so that another mask gives another output (tanh is far from saturated).
    layer = seqrnn.VanillaRNN(
        64,
        dropout=0.5,
        return_sequences=True,
        seed=0,
        kernel_initializer=keras.initializers.RandomUniform(0.0, 0.1, seed=1),
        recurrent_initializer="zeros",
    )
    x = np.ones((2, 6, 8), "float32")
    first = to_numpy(layer(x, training=True))
    np.testing.assert_allclose(first, np.repeat(first[:, :1], 6, axis=1), atol=1e-6)
    second = to_numpy(layer(x, training=True))
    assert not np.allclose(first, second)  # the mask was reset after the call
    assert keras.ops.all(layer(x) == layer(x))


def test_the_backend_kernels_are_the_ones_keras_lstm_and_gru_call_for_cudnn():
    from keras.src import backend
    from keras.src.layers.rnn import gru, lstm

    assert lstm.backend.lstm is backend.lstm is backend_lstm
    assert gru.backend.gru is backend.gru is backend_gru


def test_a_variable_without_autocast_keeps_its_dtype_in_a_mixed_precision_call():
    from keras.src.backend.common.variables import AutocastScope

    from seqrnn._keras_private import without_autocast

    plain, kept = (keras.Variable(np.zeros(3), dtype="float32") for _ in range(2))
    without_autocast(kept)
    with AutocastScope("float16"):
        assert keras.backend.standardize_dtype(plain.value.dtype) == "float16"
        assert keras.backend.standardize_dtype(kept.value.dtype) == "float32"
        kept.assign(np.ones(3, "float16"))
    np.testing.assert_array_equal(to_numpy(kept.value), np.ones(3))
