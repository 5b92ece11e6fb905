"""The served names model: batched sampling with constraints, and scoring, from a local Generator per request.

Everything here is read-only with respect to the model's weights, so one instance is safely shared by threads.
Probabilities are computed in float64 and the draw renormalises by the cumulative total, so a softmax that does
not sum to exactly 1 can never break sampling.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from model_core.rnn import RNNParams
from model_core.rnn_sampler import _sample_rows
from model_core.vocab import Vocab

END = 0  # index of "\n", the end-of-name character
HARD_MAX_LENGTH = 50  # the notebook's cap on a sampled name
MAX_BATCH = 20_000  # candidates drawn at once (bounds memory: ~20k x 51 indices)
COLLAPSED = 64  # a batch with this many candidates meeting the lengths and no new name ends the search


class SampledName(NamedTuple):  # a tuple: ten thousand of them are built per second
    name: str  # lower-case, without "\n"
    log_likelihood: float  # log p(name + "\n") under the model at temperature 1


@dataclass
class SampleResult:
    names: list[SampledName]
    attempts: int  # candidate names drawn (accepted or rejected)
    exhausted: bool  # True when the attempt budget ran out before `count` names were found


SampleSteps = Generator[None, None, SampleResult]  # one batch per next(); returns the result when done


def finish(steps: SampleSteps) -> SampleResult:
    """Run the remaining batches of a sampling in progress; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def advance(steps: SampleSteps) -> SampleResult | None:
    """Run one batch; the result if that was the last one, else None (call `finish` for the rest)."""
    try:
        next(steps)
    except StopIteration as done:
        return done.value
    return None


def rejection_batches(count: int, draw_batch: Callable[[int], Iterable[tuple[str, float]]], *, prefix: str,
                      prefix_ll: float, known: frozenset[str], exclude_known: bool, unique: bool,
                      max_attempts: int, greedy: bool, max_batch: int = MAX_BATCH) -> SampleSteps:
    """The rejection loop shared by every names model: batches of candidates until `count` are accepted.

    A generator that pauses after each batch, so a caller can run a cheap first batch in one place (the event
    loop) and the rest in another (a worker thread); the batches, and so the result, are the same either way.

    `draw_batch(batch)` runs `batch` attempts and yields (suffix, suffix log-likelihood) for the candidates that met
    the length constraints; here they are filtered (unique, exclude_known) and counted against `max_attempts`, which
    bounds the work of any request. Batches are sized from the acceptance rate seen so far, so a constrained request
    draws just enough candidates instead of one at a time; a batch is at most `max_batch` candidates and at most four
    times the previous one, so a request that turns out hard is re-examined (and can be abandoned) often. Greedy decoding (temperature 0) has exactly one outcome,
    so it stops after a single attempt; and a batch in which COLLAPSED or more candidates met the lengths but none
    was new means the distribution has (all but) run out of new names, so the loop stops there too instead of
    spending the whole budget on repeats.
    """
    accepted: list[SampledName] = []
    seen: set[str] = set()
    attempts = 0
    rate = 1.0  # expected acceptance; re-estimated after every batch so batches stay just big enough
    batch = 0
    while len(accepted) < count and attempts < max_attempts:
        need = count - len(accepted)
        grow = 4 * batch if batch else max_batch  # the first batch is sized from `need` alone
        batch = 1 if greedy else min(max_attempts - attempts, max_batch, grow, int(need / rate * 1.03) + 2)
        attempts += batch
        before = len(accepted)
        offered = 0  # candidates of this batch that met the lengths
        for suffix, ll in draw_batch(batch):
            offered += 1
            name = prefix + suffix
            if exclude_known and name in known:
                continue
            if unique:
                if name in seen:
                    continue
                seen.add(name)
            accepted.append(SampledName(name, prefix_ll + ll))
            need -= 1
            if not need:
                break
        rate = max((len(accepted) - before) / batch, 0.01)
        if greedy:
            break  # more attempts cannot find anything new
        if offered >= COLLAPSED and len(accepted) == before:
            break  # e.g. a near-zero temperature: every candidate repeats a name already drawn or known
        if len(accepted) < count and attempts < max_attempts:
            yield  # another batch is needed
    return SampleResult(accepted, attempts, exhausted=len(accepted) < count)


class ServedNamesModel:
    """What the service needs of a names model, and the parts every one shares. A subclass provides `vocab`,
    `known`, `char_log_probs(name)` and `sample_steps(count, rng, **constraints)` (a `rejection_batches` run), and
    sets `inline_max_count`, `attempt_cost` and `max_batch`."""

    inline_max_count: int  # requests of up to this many names may run their first batch on the event loop
    attempt_cost: int  # work per candidate relative to the RNN: the service scales the attempt budget by it
    max_batch: int  # candidates per batch at most

    def score(self, name: str) -> float:
        """log p(name + end-of-name) under the model (lower-case input)."""
        return float(self.char_log_probs(name).sum())

    def sample(self, count: int, rng: np.random.Generator, **constraints) -> SampleResult:
        """Draw up to `count` names from the model conditioned on the constraints (see `sample_steps`)."""
        return finish(self.sample_steps(count, rng, **constraints))


@dataclass
class NamesModel(ServedNamesModel):
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

    # -- sampling ------------------------------------------------------------------------------------------------
    inline_max_count = 20  # requests of up to 20 names: the first batch (<= 22 candidates, ~0.1-0.4 ms) may run inline
    attempt_cost = 1  # work per candidate relative to this model: the service scales the attempt budget by it
    max_batch = MAX_BATCH  # candidates per batch: 20,000 are ~0.15 s of work

    def sample_steps(
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
    ) -> SampleSteps:
        """Draw up to `count` names from the model conditioned on the constraints, by exact rejection sampling,
        one batch of candidates per step (see `rejection_batches`).

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

        return rejection_batches(
            count,
            lambda batch: self._sample_batch(batch, rng, temperature, a0, prev, len(prefix_ix), min_length, max_length),
            prefix=prefix, prefix_ll=prefix_ll, known=self.known, exclude_known=exclude_known, unique=unique,
            max_attempts=max_attempts, greedy=temperature == 0, max_batch=self.max_batch)

    def _sample_batch(self, batch, rng, temperature, a0, prev, prefix_len, min_length, max_length):
        """(suffix, suffix log-likelihood) of the candidates in one batch that meet the lengths."""
        steps = max_length - prefix_len + 1  # characters to draw at most, the final "\n" included
        if steps <= 0:
            return []  # the prefix alone is already too long: every candidate is rejected
        uniforms = rng.random((batch, steps))  # every draw's randomness, taken up front from the request's Generator
        chars = np.zeros((batch, steps), dtype=np.uint8)  # character indices (the vocabulary has < 256)
        ll = np.zeros(batch)
        done_at = np.full(batch, -1)  # step at which a kept candidate drew "\n"; -1 = rejected
        _sample_rows(self._WaxTb, self._WaaT, self._WyaT, self._by, a0[0], int(prev), uniforms, float(temperature),
                     min_length - prefix_len, chars, ll, done_at)
        return kept_names(self._chars_u8, chars, ll, done_at)

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


def kept_names(chars_u8: np.ndarray, chars: np.ndarray, ll: np.ndarray, done_at: np.ndarray) -> Iterable[tuple[str, float]]:
    """(name, log-likelihood) of every kept row of a sampled batch, decoded in one pass.

    chars (B, steps) character indices, ll (B,), done_at (B,) the step of each kept row's "\n" (-1 = rejected);
    chars_u8 maps an index to its ASCII byte. The kept rows' characters, each row's "\n" included, are gathered into
    one byte string and split on "\n": one decode for the batch instead of one per name.
    """
    rows = np.flatnonzero(done_at >= 0)
    ends = done_at[rows]
    keep = np.arange(chars.shape[1])[None, :] <= ends[:, None]  # (R, steps): characters up to and with the "\n"
    text = chars_u8[chars[rows][keep]].tobytes().decode("ascii")
    return zip(text.split("\n"), ll[rows].tolist())


def capitalise(name: str) -> str:
    """The notebook's style: first letter upper case."""
    return name[:1].upper() + name[1:]
