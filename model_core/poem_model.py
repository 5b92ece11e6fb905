"""The notebook's poem network, built with Keras 3 (JAX backend). Only the trainer and tests import this."""

from __future__ import annotations

import model_core  # noqa: F401  (pins KERAS_BACKEND before Keras loads)


def build_model(tx: int, vocab_size: int, units: int = 128, dropout: float = 0.5):
    """Input(tx, V) -> LSTM(units, return_sequences) -> Dropout -> LSTM(units) -> Dropout -> Dense(V, softmax)."""
    import keras

    inputs = keras.Input(shape=(tx, vocab_size), name="window")
    h = keras.layers.LSTM(units, return_sequences=True, name="lstm_1")(inputs)
    h = keras.layers.Dropout(dropout, name="dropout_1")(h)
    h = keras.layers.LSTM(units, name="lstm_2")(h)
    h = keras.layers.Dropout(dropout, name="dropout_2")(h)
    outputs = keras.layers.Dense(vocab_size, activation="softmax", name="next_char")(h)
    return keras.Model(inputs, outputs, name="sonnets_lstm")
