"""The served names model: batched sampling with constraints, and scoring, from a local Generator per request.

Everything here is read-only with respect to the model's weights, so one instance is safely shared by threads.
Probabilities are computed in float64 and the draw renormalises by the cumulative total, so a softmax that does
not sum to exactly 1 can never break sampling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import math

import numba
import numpy as np

from model_core.rnn import RNNParams
from model_core.vocab import Vocab

END = 0  # index of "\n", the end-of-name character
HARD_MAX_LENGTH = 50  # the notebook's cap on a sampled name
MAX_BATCH = 20_000  # candidates drawn at once (bounds memory: ~20k x 51 indices)


@dataclass(frozen=True)
class SampledName:
    name: str  # lower-case, without "\n"
    log_likelihood: float  # log p(name + "\n") under the model at temperature 1


@dataclass
class SampleResult:
    names: list[SampledName]
    attempts: int  # candidate names drawn (accepted or rejected)
    exhausted: bool  # True when the attempt budget ran out before `count` names were found


def rejection_sample(count: int, draw_batch: Callable[[int], Iterable[tuple[str, float]]], *, prefix: str,
                     prefix_ll: float, known: frozenset[str], exclude_known: bool, unique: bool,
                     max_attempts: int, greedy: bool) -> SampleResult:
    """The rejection loop shared by every names model: batches of candidates until `count` are accepted.

    `draw_batch(batch)` runs `batch` attempts and yields (suffix, suffix log-likelihood) for the candidates that met
    the length constraints; here they are filtered (unique, exclude_known) and counted against `max_attempts`, which
    bounds the work of any request. Batches are sized from the acceptance rate seen so far, so a constrained request
    draws just enough candidates instead of one at a time. Greedy decoding (temperature 0) has exactly one outcome,
    so it stops after a single attempt.
    """
    accepted: list[SampledName] = []
    seen: set[str] = set()
    attempts = 0
    rate = 0.8  # expected acceptance; re-estimated after every batch so batches stay just big enough
    while len(accepted) < count and attempts < max_attempts:
        need = count - len(accepted)
        batch = 1 if greedy else min(max_attempts - attempts, MAX_BATCH, int(need / rate * 1.1) + 8)
        attempts += batch
        before = len(accepted)
        for suffix, ll in draw_batch(batch):
            name = prefix + suffix
            if (exclude_known and name in known) or (unique and name in seen):
                continue
            seen.add(name)
            accepted.append(SampledName(name, prefix_ll + ll))
            if len(accepted) == count:
                break
        rate = max((len(accepted) - before) / batch, 0.01)
        if greedy:
            break  # more attempts cannot find anything new
    return SampleResult(accepted, attempts, exhausted=len(accepted) < count)


@dataclass
class NamesModel:
    params: RNNParams
    vocab: Vocab
    known: frozenset[str] = field(default_factory=frozenset)  # training names, lower-case

    def __post_init__(self) -> None:
        # Row-major copies used by the batched sampler: hidden states are rows (B, n_a).
        self._WaxT = np.ascontiguousarray(self.params.Wax.T)  # (V, n_a): row c is character c's input
        # Row c is Wax[:, c] + b; the extra last row (index -1) is b alone: the zero input that starts a name.
        self._WaxTb = np.vstack([self._WaxT + self.params.b[:, 0], self.params.b[:, 0][None, :]])
        self._WaaT = np.ascontiguousarray(self.params.Waa.T)
        self._WyaT = np.ascontiguousarray(self.params.Wya.T)
        self._b = self.params.b[:, 0].copy()
        self._by = self.params.by[:, 0].copy()
        if not self.vocab.chars.isascii():
            raise ValueError("the names vocabulary must be ASCII")
        self._chars_u8 = np.frombuffer(self.vocab.chars.encode("ascii"), dtype=np.uint8)  # index -> character byte
        for arr in (self._chars_u8, self._WaxT, self._WaxTb, self._WaaT, self._WyaT, self._b, self._by):
            arr.flags.writeable = False  # nothing a request does can modify the loaded model

    # -- scoring -------------------------------------------------------------------------------------------------
    def char_log_probs(self, name: str) -> np.ndarray:
        """log p of each character of `name` and of the final "\\n", from a zero hidden state (lower-case input)."""
        ix = self.vocab.encode(name, "name")
        a = np.zeros(self.params.n_a)
        out = np.empty(len(ix) + 1)
        prev = -1
        for t, target in enumerate(list(ix) + [END]):
            a = self._step(a[None, :], np.array([prev]))[0]
            out[t] = self._log_probs(a[None, :])[0, target]
            prev = target
        return out

    def score(self, name: str) -> float:
        return float(self.char_log_probs(name).sum())

    # -- sampling ------------------------------------------------------------------------------------------------
    def sample(
        self,
        count: int,
        rng: np.random.Generator,
        temperature: float = 1.0,
        prefix: str = "",
        min_length: int = 1,
        max_length: int = 30,
        exclude_known: bool = False,
        unique: bool = True,
        max_attempts: int = 20_000,
    ) -> SampleResult:
        """Draw up to `count` names from the model conditioned on the constraints, by exact rejection sampling.

        A candidate longer than `max_length` is rejected the moment it passes the limit (never cut), one shorter
        than `min_length` when it ends; `max_attempts` bounds the total work so no request runs unbounded.
        """
        max_length = min(max_length, HARD_MAX_LENGTH)
        prefix_ix = self.vocab.encode(prefix, "prefix")
        # Run the prefix once from the zero state: its hidden state and log-likelihood seed every candidate.
        a0 = np.zeros((1, self.params.n_a))
        prefix_ll = 0.0
        prev = -1
        for c in prefix_ix:
            a0 = self._step(a0, np.array([prev]))
            prefix_ll += float(self._log_probs(a0)[0, c])
            prev = int(c)

        return rejection_sample(
            count,
            lambda batch: self._sample_batch(batch, rng, temperature, a0, prev, len(prefix_ix), min_length, max_length),
            prefix=prefix, prefix_ll=prefix_ll, known=self.known, exclude_known=exclude_known, unique=unique,
            max_attempts=max_attempts, greedy=temperature == 0)

    def _sample_batch(self, batch, rng, temperature, a0, prev, prefix_len, min_length, max_length):
        """Yield (suffix, suffix log-likelihood) of the candidates in one batch that meet the lengths."""
        steps = max_length - prefix_len + 1  # characters to draw at most, the final "\n" included
        uniforms = rng.random((batch, steps))  # every draw's randomness, taken up front from the request's Generator
        chars = np.zeros((batch, steps), dtype=np.int64)
        ll = np.zeros(batch)
        done_at = np.full(batch, -1)  # step at which a kept candidate drew "\n"; -1 = rejected
        _sample_rows(self._WaxTb, self._WaaT, self._WyaT, self._by, a0[0], int(prev), uniforms, float(temperature),
                     min_length - prefix_len, chars, ll, done_at)
        rows = np.flatnonzero(done_at >= 0)
        text = self._chars_u8[chars[rows]]  # (R, steps) one byte per character: decode by slicing, not joining
        for i, r in enumerate(rows):
            yield text[i, : done_at[r]].tobytes().decode("ascii"), float(ll[r])

    def _step(self, a: np.ndarray, x: np.ndarray) -> np.ndarray:
        """a<t> = tanh(Wax x + Waa a<t-1> + b) for a batch: a (B, n_a), x (B,) indices (-1 = zero input)."""
        z = a @ self._WaaT + self._b
        real = x >= 0
        z[real] += self._WaxT[x[real]]  # gather input rows instead of a one-hot product
        return np.tanh(z)

    def _log_probs(self, a: np.ndarray) -> np.ndarray:
        """log softmax(Wya a + by) for a batch of hidden states, float64 (B, V)."""
        z = a @ self._WyaT + self._by
        z -= z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    @staticmethod
    def _draw(logp: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
        """One index per row: argmax at temperature 0, else inverse-CDF on renormalised float64 probabilities."""
        if temperature == 0:
            return logp.argmax(axis=1)
        z = logp / temperature  # logp <= 0 so this only underflows toward -inf, never overflows
        z -= z.max(axis=1, keepdims=True)
        cdf = np.cumsum(np.exp(z), axis=1)
        u = rng.random(len(logp)) * cdf[:, -1]  # scale by the row total: renormalised exactly
        return np.minimum((cdf <= u[:, None]).sum(axis=1), logp.shape[1] - 1)


def capitalise(name: str) -> str:
    """The notebook's style: first letter upper case."""
    return name[:1].upper() + name[1:]


_JIT = dict(cache=True, nogil=True, error_model="numpy")  # numpy error model: no hidden branches, loops vectorise
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93145751953125e-1  # ln 2 split in two (Cody-Waite) so k * ln2 is exact in the high part
_LN2_LO = 1.42860682030941723212e-6


@numba.njit(**_JIT)
def _exp_into(x, out, kbits):
    """out[i] = exp(x[i]) for float64 arrays, branch-free so LLVM vectorises it (libm's exp is a scalar call).

    exp(x) = 2^k * exp(r), k = round(x / ln 2), |r| <= ln2 / 2; exp(r) by its Taylor series to r^13 (error below
    2e-16 relative), 2^k assembled from its bits. Inputs are clamped to [-708, 709] (exp(-708) ~ 3e-308).
    """
    n = x.shape[0]
    for i in range(n):
        v = min(max(x[i], -708.0), 709.0)
        k = np.floor(v * _LOG2E + 0.5)
        r = (v - k * _LN2_HI) - k * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        out[i] = p * r + 1.0
        kbits[i] = (np.int64(k) + 1023) << 52
    scale = kbits.view(np.float64)
    for i in range(n):
        out[i] *= scale[i]


@numba.njit(**_JIT)
def _tanh_into(z, out, tmp, kbits):
    """out = tanh(z) via exp(-2|z|): tanh = sign(z) (1 - t) / (1 + t); vectorised like _exp_into."""
    n = z.shape[0]
    for i in range(n):
        tmp[i] = -2.0 * abs(z[i])
    _exp_into(tmp, tmp, kbits)
    for i in range(n):
        t = (1.0 - tmp[i]) / (1.0 + tmp[i])
        out[i] = t if z[i] >= 0.0 else -t


@numba.njit(**_JIT)
def _sample_rows(WaxTb, WaaT, WyaT, by, a0, prev, U, temperature, min_steps, chars, ll, done_at):
    """Sample each row's name one character at a time (compiled: no per-step Python or temporaries).

    Per step: a = tanh(Wax x + Waa a + b); logits = Wya a + by; draw from softmax(logits / T) by inverse CDF on
    float64 weights with the pre-drawn uniform U[r, t] (argmax when T == 0). ll[r] accumulates log p at T = 1.
    A row that draws "\n" at step t >= min_steps is kept (done_at[r] = t); one that ends sooner or never ends
    within U.shape[1] steps is rejected (done_at[r] stays -1).
    """
    B, steps = U.shape
    n_a, V = WaaT.shape[0], WyaT.shape[1]
    a = np.empty(n_a)
    z = np.empty(n_a)
    tmp = np.empty(max(n_a, V))
    kbits = np.empty(max(n_a, V), dtype=np.int64)
    logits = np.empty(V)
    w = np.empty(V)
    e = np.empty(V)
    for r in range(B):
        a[:] = a0
        x = prev
        total = 0.0
        for t in range(steps):
            for j in range(n_a):  # z = Wax x + b (a gathered row), then + Waa a
                z[j] = WaxTb[x, j]
            for k in range(n_a):
                ak = a[k]
                for j in range(n_a):
                    z[j] += ak * WaaT[k, j]
            _tanh_into(z, a, tmp[:n_a], kbits[:n_a])
            for v in range(V):  # logits = Wya a + by
                logits[v] = by[v]
            for k in range(n_a):
                ak = a[k]
                for v in range(V):
                    logits[v] += ak * WyaT[k, v]
            m = logits.max()
            for v in range(V):
                e[v] = logits[v] - m
            _exp_into(e, w, kbits[:V])
            s = 0.0
            for v in range(V):
                s += w[v]
            lse = m + math.log(s)  # log of the softmax normaliser
            if temperature == 0.0:
                ix = int(np.argmax(logits))
            else:
                if temperature != 1.0:  # tempered weights; (logits - m) <= 0: tiny T underflows, never overflows
                    for v in range(V):
                        e[v] = (logits[v] - m) / temperature
                    _exp_into(e, w, kbits[:V])
                tot = 0.0
                last = 0
                for v in range(V):
                    tot += w[v]
                    if w[v] > 0.0:
                        last = v
                target = U[r, t] * tot  # renormalised: compare against the running sum of the weights
                ix = last
                acc = 0.0
                for v in range(V):
                    acc += w[v]
                    if acc > target and w[v] > 0.0:
                        ix = v
                        break
            total += logits[ix] - lse
            chars[r, t] = ix
            if ix == 0:  # end of name
                if t >= min_steps:
                    done_at[r] = t
                break
            x = ix
        ll[r] = total
