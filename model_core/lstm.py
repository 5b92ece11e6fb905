"""A NumPy/Numba LSTM that computes exactly what the Keras model computes, for serving without Keras.

Keras LSTM (2 and 3): z = x K + h R + b, gates in the order [i, f, g, o] (each `units` wide),
    i, f, o = rec_act(z_i), rec_act(z_f), rec_act(z_o);  g = tanh(z_g)
    c' = f * c + i * g;   h' = o * tanh(c')
then a dense softmax over the characters. `rec_act` is the layer's `recurrent_activation`: `sigmoid` (Keras 3's
default) or `hard_sigmoid`, which is clip(0.2 z + 0.5, 0, 1) in Keras 2 but clip(z / 6 + 0.5, 0, 1) in Keras 3 —
legacy course files were trained with the 0.2 slope and must be served with it.

The loops are compiled with Numba: per-step Python overhead, not arithmetic, is what makes a NumPy batch-1 LSTM
slow (80 tiny matrix products per character in window mode). Arithmetic is float32, as in Keras; the final
log-softmax is float64 so sampling always sees probabilities that are finite and renormalisable.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numba
import numpy as np

SIGMOID, HARD_SIGMOID_K2, HARD_SIGMOID_K3 = 0, 1, 2  # recurrent activation codes for the kernels
ACTIVATIONS = {"sigmoid": SIGMOID, "hard_sigmoid_keras2": HARD_SIGMOID_K2, "hard_sigmoid_keras3": HARD_SIGMOID_K3}


JIT = dict(cache=True, nogil=True, fastmath=True, error_model="numpy")  # numpy error model: loops vectorise
_CLAMP = np.float32(7.90531110763549805)


@numba.njit(inline="always", **JIT)
def _tanh(x):
    """float32 tanh as a rational function (Eigen's, which XLA also uses): branch-free, so LLVM vectorises it.
    Absolute error <= 3.1e-7 against float64 tanh (checked in tests)."""
    x = x if x < _CLAMP else _CLAMP
    x = x if x > -_CLAMP else -_CLAMP
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    return x * p / q


@numba.njit(**JIT)
def _cell(z, R, h, c, kind, act):
    """One LSTM step: z (4u,) holds x K + b on entry; adds h R, then updates h, c (u,) in place. act: scratch (4u,)."""
    u = R.shape[0]
    n = 4 * u
    for k in range(u):  # z += h R as axpys over contiguous rows of R (vectorised)
        hk = h[k]
        for j in range(n):
            z[j] += hk * R[k, j]
    if kind == SIGMOID:  # sigmoid(z) = 0.5 tanh(z / 2) + 0.5 keeps every gate on the vectorised tanh
        for j in range(n):
            act[j] = np.float32(0.5) * _tanh(np.float32(0.5) * z[j]) + np.float32(0.5)
    else:
        slope = np.float32(0.2) if kind == HARD_SIGMOID_K2 else np.float32(1.0 / 6.0)
        for j in range(n):
            v = slope * z[j] + np.float32(0.5)
            v = v if v < np.float32(1.0) else np.float32(1.0)
            act[j] = v if v > np.float32(0.0) else np.float32(0.0)
    for j in range(2 * u, 3 * u):  # the candidate g uses tanh, whatever the recurrent activation
        act[j] = _tanh(z[j])
    for j in range(u):  # gates are [i, f, g, o]
        c[j] = act[u + j] * c[j] + act[j] * act[2 * u + j]
        h[j] = act[3 * u + j] * _tanh(c[j])


@numba.njit(**JIT)
def _project(z, x, K, b):
    """z = x K + b for one step of a layer whose input is a dense vector x (u_in,)."""
    for j in range(K.shape[1]):
        z[j] = b[j]
    for k in range(K.shape[0]):
        xk = x[k]
        for j in range(K.shape[1]):
            z[j] += xk * K[k, j]


@numba.njit(cache=True, nogil=True)
def _log_softmax(h, W, bias, out):
    """out = log softmax(h W + bias) in float64."""
    V = W.shape[1]
    for v in range(V):
        out[v] = bias[v]
    for k in range(W.shape[0]):
        hk = np.float64(h[k])
        for v in range(V):
            out[v] += hk * W[k, v]
    m = out.max()
    s = 0.0
    for v in range(V):
        s += math.exp(out[v] - m)
    ls = m + math.log(s)
    for v in range(V):
        out[v] -= ls


@numba.njit(cache=True, nogil=True)
def _window(first, kernels, recurrents, biases, idx, kind, W, bias, out):
    """log p(next | window) from a zero state, the whole stack layer by layer. idx (T,), -1 = zero row."""
    T = idx.shape[0]
    u = recurrents[0].shape[0]
    seq = np.empty((T, u), dtype=np.float32)
    proj = np.empty((T, 4 * u), dtype=np.float32)
    act = np.empty(4 * u, dtype=np.float32)
    h = np.zeros(u, dtype=np.float32)
    c = np.zeros(u, dtype=np.float32)
    for t in range(T):  # first layer: x K + b is a gathered row of `first`
        proj[t] = first[idx[t]]
    for layer in range(len(recurrents)):
        if layer > 0:  # the next layer's input projection for all T steps at once, off the sequential path
            for t in range(T):
                _project(proj[t], seq[t], kernels[layer], biases[layer])
            h[:] = 0.0
            c[:] = 0.0
        for t in range(T):
            _cell(proj[t], recurrents[layer], h, c, kind, act)
            seq[t] = h
    _log_softmax(h, W, bias, out)


@numba.njit(cache=True, nogil=True)
def _stateful(first, kernels, recurrents, biases, ix, H, C, kind, W, bias, out):
    """Feed one character (ix, -1 = zero row) through the stack from states H, C (L, u), updated in place."""
    u = recurrents[0].shape[0]
    z = np.empty(4 * u, dtype=np.float32)
    act = np.empty(4 * u, dtype=np.float32)
    z[:] = first[ix]
    _cell(z, recurrents[0], H[0], C[0], kind, act)
    for layer in range(1, len(recurrents)):
        _project(z, H[layer - 1], kernels[layer], biases[layer])
        _cell(z, recurrents[layer], H[layer], C[layer], kind, act)
    _log_softmax(H[len(recurrents) - 1], W, bias, out)


@dataclass
class LSTMLayer:
    kernel: np.ndarray  # (n_in, 4u)
    recurrent: np.ndarray  # (u, 4u)
    bias: np.ndarray  # (4u,)


class CharLSTM:
    """Stacked LSTMs over one-hot characters, then a dense softmax. Immutable once built, so threads may share it."""

    def __init__(self, layers: list[LSTMLayer], dense_w: np.ndarray, dense_b: np.ndarray, recurrent_activation: str):
        if recurrent_activation not in ACTIVATIONS:
            raise ValueError(f"unsupported recurrent_activation {recurrent_activation!r}")
        f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
        units = {l.recurrent.shape[0] for l in layers}
        if len(units) != 1:
            raise ValueError(f"all LSTM layers must have the same width, got {sorted(units)}")
        self.units = units.pop()
        self.vocab_size = layers[0].kernel.shape[0]
        self.kind = ACTIVATIONS[recurrent_activation]
        self.recurrent_activation = recurrent_activation
        # Layer 0 reads one-hot rows, so x K + b is row `ix` of (K + b); the extra last row (ix = -1) is the zero input.
        self.first = f32(np.vstack([layers[0].kernel + layers[0].bias, layers[0].bias[None, :]]))
        self.kernels = tuple(f32(l.kernel) for l in layers)
        self.recurrents = tuple(f32(l.recurrent) for l in layers)
        self.biases = tuple(f32(l.bias)[None, :] for l in layers)  # (1, 4u): one array type for the kernels' tuples
        self.dense_w = f32(dense_w)
        self.dense_b = np.asarray(dense_b, dtype=np.float64)
        for arr in (self.first, self.dense_w, self.dense_b, *self.kernels, *self.recurrents, *self.biases):
            arr.flags.writeable = False  # nothing a request does can modify the loaded weights
        self._bias_vecs = tuple(b[0] for b in self.biases)
        # For batched steps of layers > 0: [h_below, h] @ [[K], [R]] in one product.
        self.stacked = (None,) + tuple(np.ascontiguousarray(np.vstack([k, r])) for k, r in zip(self.kernels[1:], self.recurrents[1:]))
        for arr in self.stacked[1:]:
            arr.flags.writeable = False

    def log_probs(self, h_top: np.ndarray) -> np.ndarray:
        """log softmax(h W + b) for the top layer's hidden state, in float64 (V,)."""
        out = np.empty(self.vocab_size)
        _log_softmax(h_top, self.dense_w, self.dense_b, out)
        return out

    def zero_state(self) -> tuple[np.ndarray, np.ndarray]:
        shape = (len(self.recurrents), self.units)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def window_log_probs(self, idx: np.ndarray) -> np.ndarray:
        """What the Keras model outputs (as logs) for one window of indices (T,), -1 = an all-zero row."""
        out = np.empty(self.vocab_size)
        _window(self.first, self.kernels, self.recurrents, self._bias_vecs, np.asarray(idx, np.int64), self.kind,
                self.dense_w, self.dense_b, out)
        return out

    def step_log_probs(self, ix: int, state: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Feed one character into a carried state (updated in place); log p of the next character."""
        out = np.empty(self.vocab_size)
        _stateful(self.first, self.kernels, self.recurrents, self._bias_vecs, int(ix), state[0], state[1], self.kind,
                  self.dense_w, self.dense_b, out)
        return out

    def predict_windows(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities (B, V) for windows (B, T) of indices: the batch API the Keras oracle is compared with."""
        return np.exp(np.stack([self.window_log_probs(w) for w in windows]))


@numba.njit(**JIT)
def _gates(Z, H, C, kind, act):
    """Apply the LSTM cell to a batch: Z (B, 4u) pre-activations -> H, C (B, u) updated in place. act: (4u,) scratch."""
    B, u = H.shape
    for r in range(B):
        z = Z[r]
        if kind == SIGMOID:
            for j in range(4 * u):
                act[j] = np.float32(0.5) * _tanh(np.float32(0.5) * z[j]) + np.float32(0.5)
        else:
            slope = np.float32(0.2) if kind == HARD_SIGMOID_K2 else np.float32(1.0 / 6.0)
            for j in range(4 * u):
                v = slope * z[j] + np.float32(0.5)
                v = v if v < np.float32(1.0) else np.float32(1.0)
                act[j] = v if v > np.float32(0.0) else np.float32(0.0)
        for j in range(2 * u, 3 * u):
            act[j] = _tanh(z[j])
        h, c = H[r], C[r]
        for j in range(u):
            c[j] = act[u + j] * c[j] + act[j] * act[2 * u + j]
            h[j] = act[3 * u + j] * _tanh(c[j])


class SlidingWindows:
    """Exact window-mode inference over a growing text, one batched step per character.

    Every position belongs to `tx` overlapping windows (the ones predicting the next tx characters). Each window is
    a chain of LSTM states that starts from zero at its first position, exactly as Keras runs it. Instead of
    re-running a whole window per character (tx sequential matrix-vector products that each stream all weights from
    memory), the tx live chains advance together: one (tx x u) @ (u x 4u) matrix product per layer per character.
    Same arithmetic as the per-window loop, but the weights are read once per character instead of tx times.
    Chains live in a ring of tx slots: slot p % tx is reset when the chain for window p + tx starts at position p.
    """

    def __init__(self, lstm: CharLSTM, first_window: np.ndarray):
        self.lstm = lstm
        self.tx = len(first_window)
        n_layers, u = len(lstm.recurrents), lstm.units
        self.H = np.zeros((n_layers, self.tx, u), np.float32)  # (layer, chain, unit) hidden states
        self.C = np.zeros((n_layers, self.tx, u), np.float32)  # cell states
        self.Z = np.empty((self.tx, 4 * u), np.float32)  # pre-activations buffer
        self.X = np.empty((self.tx, 2 * u), np.float32)  # [input h, own h] for layers > 0
        self.act = np.empty(4 * u, np.float32)
        self.p = 0  # positions consumed
        for ix in first_window:
            self.advance(int(ix))

    def advance(self, ix: int) -> None:
        """Consume the character at the next position (-1 = a zero padding row) in every live window."""
        lstm, slot = self.lstm, self.p % self.tx
        self.H[:, slot] = 0.0  # a new window starts here from the zero state
        self.C[:, slot] = 0.0
        np.matmul(self.H[0], lstm.recurrents[0], out=self.Z)  # (tx, 4u): every chain's h R at once
        self.Z += lstm.first[ix]  # the one-hot input's x K + b, the same row for every chain
        _gates(self.Z, self.H[0], self.C[0], lstm.kind, self.act)
        u = lstm.units
        for layer in range(1, len(lstm.recurrents)):
            self.X[:, :u] = self.H[layer - 1]
            self.X[:, u:] = self.H[layer]
            np.matmul(self.X, lstm.stacked[layer], out=self.Z)  # [h_below, h] @ [[K], [R]]
            self.Z += lstm.biases[layer]
            _gates(self.Z, self.H[layer], self.C[layer], lstm.kind, self.act)
        self.p += 1

    def log_probs(self) -> np.ndarray:
        """log p(next character | the last tx characters): the window that just completed."""
        return self.lstm.log_probs(self.H[-1, self.p % self.tx])
