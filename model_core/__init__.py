"""Model core: vocabularies, the NumPy RNN for names, the LSTM for poems, sampling, training and artifact I/O.

Keras is only needed to *train* the poem model (and by the equivalence tests); serving reads weights with NumPy.
The Keras backend is pinned here, before anything can import Keras, so users never need to export it.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
