"""The names RNN's mathematics in NumPy, written for speed (index gathers instead of one-hot products).

    a<t> = tanh(Wax x<t> + Waa a<t-1> + b)        x<t> one-hot over V characters (zero vector at the start)
    ŷ<t> = softmax(Wya a<t> + by)                 loss = -Σ_t log ŷ<t>[y<t>]

Shapes follow the course: Wax (n_a, V), Waa (n_a, n_a), Wya (V, n_a), b (n_a, 1), by (V, 1). A name is fed as
`xs = [-1, c1, c2, ...]` (-1 = the zero input) with targets `ys = [c1, c2, ..., 0]` (0 = "\\n", end of name).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

PARAM_NAMES = ("Wax", "Waa", "Wya", "b", "by")


@dataclass
class RNNParams:
    Wax: np.ndarray  # (n_a, V) input -> hidden
    Waa: np.ndarray  # (n_a, n_a) hidden -> hidden
    Wya: np.ndarray  # (V, n_a) hidden -> output logits
    b: np.ndarray  # (n_a, 1) hidden bias
    by: np.ndarray  # (V, 1) output bias

    @property
    def n_a(self) -> int:
        return self.Waa.shape[0]

    @property
    def vocab_size(self) -> int:
        return self.Wya.shape[0]

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def copy(self) -> "RNNParams":
        return RNNParams(**{k: v.copy() for k, v in self.arrays().items()})

    @classmethod
    def from_dict(cls, d: dict[str, np.ndarray]) -> "RNNParams":
        return cls(**{k: np.asarray(d[k], dtype=np.float64) for k in PARAM_NAMES})

    def check_shapes(self) -> None:
        n_a, v = self.n_a, self.vocab_size
        expected = {"Wax": (n_a, v), "Waa": (n_a, n_a), "Wya": (v, n_a), "b": (n_a, 1), "by": (v, 1)}
        for name, shape in expected.items():
            actual = getattr(self, name).shape
            if actual != shape:
                raise ValueError(f"parameter {name} has shape {actual}, expected {shape}")


def init_params(n_a: int, vocab_size: int, rng: np.random.Generator, scale: float = 0.01) -> RNNParams:
    """Small Gaussian weights and zero biases (the course's initialisation, from a local Generator)."""
    return RNNParams(
        Wax=rng.standard_normal((n_a, vocab_size)) * scale,
        Waa=rng.standard_normal((n_a, n_a)) * scale,
        Wya=rng.standard_normal((vocab_size, n_a)) * scale,
        b=np.zeros((n_a, 1)),
        by=np.zeros((vocab_size, 1)),
    )


def log_softmax_rows(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def forward(p: RNNParams, xs: np.ndarray, ys: np.ndarray, a0: np.ndarray):
    """Loss and cache for one sequence. a0 (n_a,). Returns (loss, (A, P)) with A (T+1, n_a), P (T, V)."""
    T = len(xs)
    A = np.empty((T + 1, p.n_a))
    A[0] = a0
    b = p.b[:, 0]
    for t in range(T):
        z = p.Waa @ A[t] + b
        if xs[t] >= 0:
            z += p.Wax[:, xs[t]]  # gather the input column instead of multiplying by a one-hot
        np.tanh(z, out=A[t + 1])
    logits = A[1:] @ p.Wya.T + p.by[:, 0]  # (T, V), one matrix product for all steps
    logits -= logits.max(axis=1, keepdims=True)
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    loss = -np.log(P[np.arange(T), ys]).sum()
    return float(loss), (A, P)


def backward(p: RNNParams, xs: np.ndarray, ys: np.ndarray, cache) -> RNNParams:
    """Backpropagation through time for one sequence; gradients in an RNNParams of the same shapes."""
    A, P = cache
    T = len(xs)
    dY = P.copy()
    dY[np.arange(T), ys] -= 1.0  # d loss / d logits
    DR = np.empty((T, p.n_a))  # d loss / d (pre-tanh) per step
    da_next = np.zeros(p.n_a)
    WyaT_dY = dY @ p.Wya  # (T, n_a): output gradient flowing into each hidden state
    for t in range(T - 1, -1, -1):
        da = WyaT_dY[t] + da_next
        DR[t] = (1.0 - A[t + 1] ** 2) * da  # through tanh
        da_next = p.Waa.T @ DR[t]
    dWax = np.zeros_like(p.Wax)
    real = xs >= 0
    np.add.at(dWax.T, xs[real], DR[real])  # scatter-add into the columns of the characters seen
    return RNNParams(
        Wax=dWax,
        Waa=DR.T @ A[:-1],
        Wya=dY.T @ A[1:],
        b=DR.sum(axis=0)[:, None],
        by=dY.sum(axis=0)[:, None],
    )


def clip_(grads: RNNParams, max_value: float) -> RNNParams:
    """Clip every gradient entry to [-max_value, max_value], in place."""
    for g in grads.arrays().values():
        np.clip(g, -max_value, max_value, out=g)
    return grads


def sgd_(p: RNNParams, grads: RNNParams, lr: float) -> RNNParams:
    """p -= lr * grads, in place."""
    for name in PARAM_NAMES:
        getattr(p, name)[...] -= lr * getattr(grads, name)
    return p


def encode_name(name_ix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(xs, ys) for a name's character indices: xs = [-1, *name], ys = [*name, 0]."""
    xs = np.concatenate(([-1], name_ix)).astype(np.int64)
    ys = np.concatenate((name_ix, [0])).astype(np.int64)
    return xs, ys


def sgd_step(p: RNNParams, xs: np.ndarray, ys: np.ndarray, a_prev: np.ndarray, lr: float, clip_value: float):
    """The course's `optimize`: forward, backward, clip, update. Returns (loss, last hidden state)."""
    loss, cache = forward(p, xs, ys, a_prev)
    grads = clip_(backward(p, xs, ys, cache), clip_value)
    sgd_(p, grads, lr)
    return loss, cache[0][-1].copy()


def mean_nll(p: RNNParams, encoded_names: list[np.ndarray]) -> float:
    """Mean per-character NLL (nats) over names, "\\n" counted, each scored from a zero hidden state."""
    total, count = 0.0, 0
    zero = np.zeros(p.n_a)
    for ix in encoded_names:
        xs, ys = encode_name(ix)
        loss, _ = forward(p, xs, ys, zero)
        total += loss
        count += len(ys)
    return total / count
