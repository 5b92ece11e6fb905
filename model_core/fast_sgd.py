"""The notebook's training loop (per-name forward, BPTT, clip, SGD), compiled with Numba.

Same mathematics as `model_core.notebook.optimize` called from `notebook.model`, one name per step with the hidden
state carried from the end of one name into the next, but without per-step dicts, one-hot matrix products or
allocations: the input one-hot product is a column gather, the gradient of `Wax` a column scatter-add, every
buffer is allocated once per call, and the parameters are updated in place.

Numerics: no fastmath. Each gradient element is accumulated over time steps in the notebook's order (t = T-1 .. 0),
every outer product, clip and update is the same floating-point operation on the same values, the softmax
denominator reproduces NumPy's pairwise summation, and the loss and smoothing are summed in the notebook's order.
What differs is at the rounding level only: the order of the terms inside the matrix-vector products (BLAS vs a
plain loop) and libm's `exp`/`log`/`tanh` vs NumPy's. On dinos.txt with the course's seeds the smoothed loss stays
within ~1e-13 relative of the notebook's through 12,000 steps (tests/test_fast_sgd.py checks 1e-6 over 12,001).
Beyond ~14,000 steps the course's trajectory amplifies last-bit differences (x10 per ~500 steps): there the notebook
disagrees by ~5e-3 with itself run on another OpenBLAS kernel (OPENBLAS_CORETYPE), and so does any reimplementation.

Layouts: the parameters keep the course's shapes, Wax (n_a, V), Waa (n_a, n_a), Wya (V, n_a), b (n_a, 1),
by (V, 1), as C-contiguous float64 arrays. The kernel keeps transposed copies of Wax, Waa and Wya (refreshed
element by element after each update, so they are always exactly equal) so that every inner loop runs over
contiguous memory without a floating-point reduction, which lets LLVM vectorise it without reassociating sums.

Examples are packed as flat int64 arrays: name k is `xs[offsets[k]:offsets[k+1]]` = [-1, c1, ..., cn] (-1 is the
zero input that starts a name) with targets `ys[offsets[k]:offsets[k+1]]` = [c1, ..., cn, 0] (0 = "\\n").
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from model_core import rnn


@dataclass(frozen=True)
class Packed:
    """Encoded names as flat arrays: name k is xs/ys[offsets[k]:offsets[k+1]]."""

    xs: np.ndarray  # int64, inputs (-1 = the zero input)
    ys: np.ndarray  # int64, targets
    offsets: np.ndarray  # int64, len(names) + 1

    def __len__(self) -> int:
        return len(self.offsets) - 1


def pack(encoded: list[tuple[np.ndarray, np.ndarray]]) -> Packed:
    """Pack a list of (xs, ys) pairs (as `rnn.encode_name` returns) into flat int64 arrays with offsets."""
    if not encoded:
        raise ValueError("no examples to train on")
    lengths = [len(xs) for xs, _ in encoded]
    if any(len(xs) != len(ys) or len(xs) == 0 for xs, ys in encoded):
        raise ValueError("every example needs non-empty xs and ys of equal length")
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    xs = np.concatenate([np.asarray(x, dtype=np.int64) for x, _ in encoded])
    ys = np.concatenate([np.asarray(y, dtype=np.int64) for _, y in encoded])
    return Packed(xs, ys, offsets)


def pack_names(names_ix: list[np.ndarray]) -> Packed:
    """Pack names given as character indices (without the start/end markers)."""
    return pack([rnn.encode_name(np.asarray(ix, dtype=np.int64)) for ix in names_ix])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _sum_like_numpy(e, n):
    """sum(e[:n]) in the order NumPy's pairwise summation uses for n <= 128 (8 partial sums, then the tail)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += e[i]
        return res
    r0, r1, r2, r3, r4, r5, r6, r7 = e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]
    i = 8
    stop = n - n % 8
    while i < stop:
        r0 += e[i]
        r1 += e[i + 1]
        r2 += e[i + 2]
        r3 += e[i + 3]
        r4 += e[i + 4]
        r5 += e[i + 5]
        r6 += e[i + 6]
        r7 += e[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += e[i]
        i += 1
    return res


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _transpose_into(src, dst):
    for i in range(src.shape[0]):
        for c in range(src.shape[1]):
            dst[c, i] = src[i, c]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _forward_backward(WaxT, Waa, WaaT, Wya, WyaT, b, by, xs, ys, o, T, A, P, e, z, dy, da, dr, da_next,
                      dWax, dWaa, dWya, db, dby):
    """Loss of name xs/ys[o:o+T] from the hidden state in A[0]; adds its gradients into dW* (zeroed by the caller).

    Fills A[1:T+1] with the hidden states and P[:T] with the softmax outputs. WaxT, WaaT, WyaT are the transposes
    of Wax, Waa, Wya. Every gradient element is accumulated in the notebook's order, t = T-1 .. 0.
    """
    n_a = Waa.shape[0]
    V = Wya.shape[0]
    # ---- forward: a<t> = tanh(Wax x + Waa a<t-1> + b), p<t> = softmax(Wya a<t> + by), loss -= log p[y] ----
    cur = 0.0
    for t in range(T):
        for i in range(n_a):
            z[i] = 0.0
        for m in range(n_a):  # z = Waa @ a<t-1>, summed over m in order
            am = A[t, m]
            for i in range(n_a):
                z[i] += WaaT[m, i] * am
        x = xs[o + t]
        if x >= 0:  # np.dot(Wax, one-hot) is exactly the column Wax[:, x]
            for i in range(n_a):
                A[t + 1, i] = np.tanh((WaxT[x, i] + z[i]) + b[i, 0])
        else:  # the zero input: np.dot(Wax, 0) is exactly 0
            for i in range(n_a):
                A[t + 1, i] = np.tanh((0.0 + z[i]) + b[i, 0])
        for v in range(V):
            e[v] = 0.0
        for m in range(n_a):  # logits = Wya @ a<t>
            am = A[t + 1, m]
            for v in range(V):
                e[v] += WyaT[m, v] * am
        zmax = -np.inf
        for v in range(V):
            e[v] = e[v] + by[v, 0]
            zmax = max(zmax, e[v])
        for v in range(V):
            e[v] = np.exp(e[v] - zmax)
        s = _sum_like_numpy(e, V)
        for v in range(V):
            P[t, v] = e[v] / s
        cur -= np.log(P[t, ys[o + t]])

    # ---- backward through time ----
    for i in range(n_a):
        da_next[i] = 0.0
    for t in range(T - 1, -1, -1):
        for v in range(V):
            dy[v] = P[t, v]
        dy[ys[o + t]] -= 1.0
        for m in range(n_a):
            da[m] = 0.0
        for v in range(V):  # dWya += dy a<t>^T, dby += dy, da = Wya^T dy (+ da_next below)
            dv = dy[v]
            for m in range(n_a):
                dWya[v, m] += dv * A[t + 1, m]
                da[m] += Wya[v, m] * dv
            dby[v] += dv
        for i in range(n_a):
            a = A[t + 1, i]
            dr[i] = (1.0 - a * a) * (da[i] + da_next[i])  # through tanh
            db[i] += dr[i]
        x = xs[o + t]
        if x >= 0:  # dWax += dr x^T with x one-hot: a column scatter-add
            for i in range(n_a):
                dWax[i, x] += dr[i]
        for m in range(n_a):
            da_next[m] = 0.0
        for i in range(n_a):  # dWaa += dr a<t-1>^T, da_next = Waa^T dr
            di = dr[i]
            for m in range(n_a):
                dWaa[i, m] += di * A[t, m]
                da_next[m] += Waa[i, m] * di
    return cur


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _clip_update(Wax, WaxT, Waa, WaaT, Wya, WyaT, b, by, dWax, dWaa, dWya, db, dby, lr, clip_value):
    """W += -lr * clip(dW) for every parameter, in place (transposed copies too); zeroes the gradient buffers."""
    n_a = Waa.shape[0]
    V = Wya.shape[0]
    neg_lr = -lr
    lo = -clip_value
    for i in range(n_a):
        for c in range(V):
            g = min(max(dWax[i, c], lo), clip_value)
            w = Wax[i, c] + neg_lr * g
            Wax[i, c] = w
            WaxT[c, i] = w
            dWax[i, c] = 0.0
        for m in range(n_a):
            g = min(max(dWaa[i, m], lo), clip_value)
            w = Waa[i, m] + neg_lr * g
            Waa[i, m] = w
            WaaT[m, i] = w
            dWaa[i, m] = 0.0
        g = min(max(db[i], lo), clip_value)
        b[i, 0] = b[i, 0] + neg_lr * g
        db[i] = 0.0
    for v in range(V):
        for m in range(n_a):
            g = min(max(dWya[v, m], lo), clip_value)
            w = Wya[v, m] + neg_lr * g
            Wya[v, m] = w
            WyaT[m, v] = w
            dWya[v, m] = 0.0
        g = min(max(dby[v], lo), clip_value)
        by[v, 0] = by[v, 0] + neg_lr * g
        dby[v] = 0.0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def sgd_loop(Wax, Waa, Wya, b, by, xs, ys, offsets, a_prev, start, stop, lr, clip_value, loss, out):
    """Run SGD iterations j = start .. stop-1 (name j % len(names) each), in place.

    Wax (n_a, V), Waa (n_a, n_a), Wya (V, n_a), b (n_a, 1), by (V, 1): float64, C-contiguous, updated in place.
    a_prev (n_a,): the hidden state carried into iteration `start`; overwritten with the state after `stop - 1`.
    loss: the smoothed loss before iteration `start`. out[j - start] receives the smoothed loss after iteration j.
    Returns the smoothed loss after the last iteration. All buffers are allocated once per call.
    """
    n_a = Waa.shape[0]
    V = Wya.shape[0]
    n_names = offsets.shape[0] - 1
    t_max = 0
    for k in range(n_names):
        t_max = max(t_max, offsets[k + 1] - offsets[k])
    # Transposed copies, for contiguous, reduction-free inner loops in the forward pass.
    WaxT = np.empty((V, n_a))
    WaaT = np.empty((n_a, n_a))
    WyaT = np.empty((n_a, V))
    _transpose_into(Wax, WaxT)
    _transpose_into(Waa, WaaT)
    _transpose_into(Wya, WyaT)
    A = np.empty((t_max + 1, n_a))  # A[0] = carried state, A[t+1] = a<t>
    P = np.empty((t_max, V))  # softmax outputs
    e = np.empty(V)
    z = np.empty(n_a)
    dy = np.empty(V)
    da = np.empty(n_a)
    dr = np.empty(n_a)
    da_next = np.empty(n_a)
    dWax = np.zeros((n_a, V))
    dWaa = np.zeros((n_a, n_a))
    dWya = np.zeros((V, n_a))
    db = np.zeros(n_a)
    dby = np.zeros(V)

    for j in range(start, stop):
        k = j % n_names
        o = offsets[k]
        T = offsets[k + 1] - o
        for i in range(n_a):
            A[0, i] = a_prev[i]
        cur = _forward_backward(WaxT, Waa, WaaT, Wya, WyaT, b, by, xs, ys, o, T, A, P, e, z, dy, da, dr, da_next,
                                dWax, dWaa, dWya, db, dby)
        _clip_update(Wax, WaxT, Waa, WaaT, Wya, WyaT, b, by, dWax, dWaa, dWya, db, dby, lr, clip_value)
        for i in range(n_a):  # the notebook's optimize returns a[len(X) - 1]
            a_prev[i] = A[T, i]
        loss = loss * 0.999 + cur * 0.001  # the course's smoothing
        out[j - start] = loss
    return loss


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _loss_and_gradients(Wax, Waa, Wya, b, by, xs, ys, a0):
    n_a = Waa.shape[0]
    V = Wya.shape[0]
    T = xs.shape[0]
    WaxT = np.empty((V, n_a))
    WaaT = np.empty((n_a, n_a))
    WyaT = np.empty((n_a, V))
    _transpose_into(Wax, WaxT)
    _transpose_into(Waa, WaaT)
    _transpose_into(Wya, WyaT)
    A = np.empty((T + 1, n_a))
    A[0] = a0
    dWax = np.zeros((n_a, V))
    dWaa = np.zeros((n_a, n_a))
    dWya = np.zeros((V, n_a))
    db = np.zeros(n_a)
    dby = np.zeros(V)
    cur = _forward_backward(WaxT, Waa, WaaT, Wya, WyaT, b, by, xs, ys, 0, T, A, np.empty((T, V)), np.empty(V),
                            np.empty(n_a), np.empty(V), np.empty(n_a), np.empty(n_a), np.empty(n_a),
                            dWax, dWaa, dWya, db, dby)
    return cur, dWax, dWaa, dWya, db, dby, A[T].copy()


def loss_and_gradients(params: rnn.RNNParams, xs: np.ndarray, ys: np.ndarray, a0: np.ndarray):
    """The compiled forward/backward for one name (no clip, no update): (loss, unclipped gradients, last state).

    For tests against `notebook.rnn_forward`/`rnn_backward`; training uses `sgd_loop`.
    """
    arr = [np.ascontiguousarray(getattr(params, k), dtype=np.float64) for k in rnn.PARAM_NAMES]
    cur, *grads, a_last = _loss_and_gradients(*arr, np.asarray(xs, dtype=np.int64), np.asarray(ys, dtype=np.int64),
                                              np.asarray(a0, dtype=np.float64).reshape(-1))
    g = dict(zip(rnn.PARAM_NAMES, grads))
    g["b"], g["by"] = g["b"][:, None], g["by"][:, None]
    return float(cur), rnn.RNNParams(**g), a_last


def _check_param(name: str, arr: np.ndarray, shape: tuple[int, int]) -> None:
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float64 or arr.shape != shape:
        raise ValueError(f"{name} must be a float64 array of shape {shape}")
    if not (arr.flags.c_contiguous and arr.flags.writeable):
        raise ValueError(f"{name} must be C-contiguous and writeable (it is updated in place)")


class SGDRun:
    """The compiled loop with its state (parameters, carried hidden state, smoothed loss), run a range at a time.

    `params` is updated in place. `loss` starts at the course's initial value, -log(1/V) * 7, unless given.
    """

    def __init__(self, params: rnn.RNNParams, packed: Packed, learning_rate: float = 0.01, clip: float = 5.0,
                 loss: float | None = None, a0: np.ndarray | None = None):
        n_a, v = params.n_a, params.vocab_size
        for name, shape in {"Wax": (n_a, v), "Waa": (n_a, n_a), "Wya": (v, n_a), "b": (n_a, 1), "by": (v, 1)}.items():
            _check_param(name, getattr(params, name), shape)
        if len(packed) < 1:
            raise ValueError("no examples to train on")
        xs, ys = packed.xs, packed.ys
        if xs.size and (xs.max() >= v or xs.min() < -1 or ys.min() < 0 or ys.max() >= v):
            raise ValueError(f"example indices must lie in [0, {v}) (xs may use -1 for the zero input)")
        self.params = params
        self.packed = packed
        self.learning_rate = float(learning_rate)
        self.clip = float(clip)
        self.loss = float(-np.log(1.0 / v) * 7 if loss is None else loss)
        self.a_prev = np.zeros(n_a) if a0 is None else np.array(a0, dtype=np.float64).reshape(n_a)
        self.iteration = 0  # the next iteration to run

    def run(self, stop: int) -> np.ndarray:
        """Run iterations self.iteration .. stop-1; returns their smoothed losses (float64 array)."""
        start = self.iteration
        out = np.empty(max(0, stop - start))
        if stop > start:
            p, pk = self.params, self.packed
            self.loss = float(sgd_loop(p.Wax, p.Waa, p.Wya, p.b, p.by, pk.xs, pk.ys, pk.offsets, self.a_prev,
                                       start, stop, self.learning_rate, self.clip, self.loss, out))
            self.iteration = stop
        return out


def train(params: rnn.RNNParams, packed: Packed, iterations: int, learning_rate: float = 0.01, clip: float = 5.0,
          loss: float | None = None) -> np.ndarray:
    """`iterations` SGD steps from a zero hidden state, in place; returns the smoothed loss after each step."""
    return SGDRun(params, packed, learning_rate, clip, loss).run(iterations)
