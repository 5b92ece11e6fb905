"""The served names model: batched sampling with constraints, and scoring, from a local Generator per request.

Everything here is read-only with respect to the model's weights, so one instance is safely shared by threads.
Probabilities are computed in float64 and the draw renormalises by the cumulative total, so a softmax that does
not sum to exactly 1 can never break sampling.
"""

from __future__ import annotations

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
        for arr in (self._WaxT, self._WaxTb, self._WaaT, self._WyaT, self._b, self._by):
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

        accepted: list[SampledName] = []
        seen: set[str] = set()
        attempts = 0
        rate = 0.8  # expected acceptance; re-estimated after every batch so batches stay just big enough
        while len(accepted) < count and attempts < max_attempts:
            need = count - len(accepted)
            batch = min(max_attempts - attempts, MAX_BATCH, int(need / rate * 1.1) + 8)
            attempts += batch
            before = len(accepted)
            for name_ix, ll in self._sample_batch(batch, rng, temperature, a0, prev, len(prefix_ix), min_length, max_length):
                name = prefix + self.vocab.decode(name_ix)
                if (exclude_known and name in self.known) or (unique and name in seen):
                    continue
                seen.add(name)
                accepted.append(SampledName(name, prefix_ll + ll))
                if len(accepted) == count:
                    break
            rate = max((len(accepted) - before) / batch, 0.01)
        return SampleResult(accepted, attempts, exhausted=len(accepted) < count)

    def _sample_batch(self, batch, rng, temperature, a0, prev, prefix_len, min_length, max_length):
        """Yield (suffix indices, suffix log-likelihood) of the candidates in one batch that meet the lengths."""
        steps = max_length - prefix_len + 1  # characters to draw at most, the final "\n" included
        uniforms = rng.random((batch, steps))  # every draw's randomness, taken up front from the request's Generator
        chars = np.zeros((batch, steps), dtype=np.int64)
        ll = np.zeros(batch)
        done_at = np.full(batch, -1)  # step at which a kept candidate drew "\n"; -1 = rejected
        _sample_rows(self._WaxTb, self._WaaT, self._WyaT, self._by, a0[0], int(prev), uniforms, float(temperature),
                     min_length - prefix_len, chars, ll, done_at)
        for r in np.flatnonzero(done_at >= 0):
            yield chars[r, : done_at[r]], float(ll[r])

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


@numba.njit(cache=True, nogil=True, fastmath={"contract", "arcp", "reassoc"}, error_model="numpy")
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
    logits = np.empty(V)
    w = np.empty(V)
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
            for j in range(n_a):
                a[j] = math.tanh(z[j])
            for v in range(V):  # logits = Wya a + by
                logits[v] = by[v]
            for k in range(n_a):
                ak = a[k]
                for v in range(V):
                    logits[v] += ak * WyaT[k, v]
            m = logits.max()
            s = 0.0
            for v in range(V):
                s += math.exp(logits[v] - m)
            lse = m + math.log(s)  # log of the softmax normaliser
            if temperature == 0.0:
                ix = int(np.argmax(logits))
            else:
                tot = 0.0
                last = 0
                for v in range(V):  # tempered weights; (logits - m) <= 0, so tiny T underflows, never overflows
                    w[v] = math.exp((logits[v] - m) / temperature)
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
