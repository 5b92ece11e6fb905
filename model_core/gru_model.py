"""The served GRU names model: batched constrained sampling and scoring, plus its artifact format.

A `names_model.ServedNamesModel`, like the RNN's `NamesModel` (attributes `vocab`, `known`; `sample_steps`,
`sample`, `char_log_probs`, `score`), so the service can serve either. The model is an equal-weight ensemble of K GRUs (K = 1 is a single
GRU): every step runs each member's cell (model_core.gru, PyTorch equations) and the next-character distribution
is the members' average, p(c | prefix) = (1/K) Σ_k p_k(c | prefix), so sampling and scoring stay exact and
autoregressive. Why: averaging two independently trained GRUs cuts held-out NLL by ~0.02 nats/char on the README
split, more than any single-model change we tried; it costs K times the compute.

Sampling and scoring share one stepping loop (`_advance`): float32 BLAS products for the recurrence (the model was
trained in float32) and gru_sampler's compiled kernels for the gates and for the float64 softmax, draw and
bookkeeping; scoring forces the characters instead of drawing them, so a sampled name's log-likelihood is its
score. Why: the float64 NumPy sampler made ~1,000 names/s on one core; this makes ~5,000-6,500 (10,000 names),
and float32 moves the held-out NLL by ~2e-10 nats/char. Weights are private read-only copies and every buffer
is allocated per call, so one instance is safely shared by threads; every draw comes from the request's own
Generator. Artifacts: `<name>.npz` (each model_core.gru parameter stacked over the members, (K, ...), plus
`known_names`, no pickles) and `<name>.json` (kind "names-gru", vocabulary, sizes, members, recipe, provenance);
`load` verifies sha256, shapes and finiteness and raises ArtifactError naming the file and problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model_core import gru, gru_sampler
from model_core.artifacts import ArtifactError, read_npz_artifact, write_npz_artifact
from model_core.names_model import END, HARD_MAX_LENGTH, SampleSteps, ServedNamesModel, rejection_batches
from model_core.vocab import Vocab

KIND = "names-gru"
CHUNK = 256  # rows stepped together: throughput is flat from 64 to 4096 rows; small chunks let a request stop early


@dataclass(eq=False)
class GRUNamesModel(ServedNamesModel):
    members: list[dict[str, np.ndarray]]  # K sets of model_core.gru parameters (E optional), gru.param_shapes
    vocab: Vocab
    known: frozenset[str] = field(default_factory=frozenset)  # training names, lower-case

    def __post_init__(self) -> None:
        if not self.members or any(set(m) != set(self.members[0]) for m in self.members):
            raise ValueError("an ensemble needs at least one member and every member the same parameters")
        # Private float64 copies stacked over the members: params[k] is (K, *gru shape).
        p = {k: np.stack([np.asarray(m[k], dtype=np.float64) for m in self.members]) for k in self.members[0]}
        self.params = p
        self.size = len(self.members)  # K
        self.start = p["Wy"].shape[2]  # index of the START input (= V)
        H = self.hidden = p["Wh"].shape[1]
        # The recurrent math runs in float32 (as trained); the folding is done in float64, then rounded once.
        # Input side of every gate for each of the V + 1 input symbols, bx and bh's r, z blocks included: (K, V+1, 3H).
        gx = (p["E"] @ p["Wx"] if "E" in p else p["Wx"]) + p["bx"][:, None, :]
        gx[:, :, : 2 * H] += p["bh"][:, None, : 2 * H]
        self._GX = gx.astype(np.float32)
        self._bhn = p["bh"][:, 2 * H:].astype(np.float32)  # (K, H): inside r * (gh_n + bh_n), not foldable
        self._Wh = p["Wh"].astype(np.float32)  # (K, H, 3H)
        self._Wy = p["Wy"].astype(np.float32)  # (K, H, V)
        self._by = p["by"].copy()  # (K, V) float64: added to the logits in the float64 softmax
        # index -> character code, decoded by slicing, not joining: one byte (Latin-1, C fast path) when it fits
        narrow = max(map(ord, self.vocab.chars)) < 256
        self._codec = "latin-1" if narrow else "utf-32-le"
        self._table = np.array([ord(c) for c in self.vocab.chars], dtype=np.uint8 if narrow else "<u4")
        for arr in (*p.values(), self._GX, self._bhn, self._Wh, self._Wy, self._by, self._table):
            arr.flags.writeable = False  # nothing a request does can modify the loaded model
        self.members = [{k: v[i] for k, v in p.items()} for i in range(self.size)]  # views, read-only too

    # -- the stepping loop shared by scoring and sampling -----------------------------------------------------------
    def _advance(self, h, x, b, U, forced, temperature, min_steps, chars, ll, done_at, lp_at) -> int:
        """Step the b running rows (slots 0..b-1 of h (K, S, H) float32, x (S,), S >= 2) up to U.shape[1] or
        forced.shape[1] steps, until none is running; returns how many still run (see gru_sampler.draw_step).

        Per step: gh = h Wh and logits = h Wy as one batched float32 BLAS product each over the members, then the
        two kernels. Products always cover >= 2 rows: NumPy hands a single row to gemv, which rounds differently
        from gemm, and a row's bits must not depend on how many rows ran with it (sampled ll == score).
        """
        K, S, H = h.shape
        gh = np.empty((K, S, 3 * H), dtype=np.float32)  # per call: nothing mutable is shared between requests
        logits = np.empty((K, S, self.start), dtype=np.float32)
        rows = np.arange(S)  # slot -> row of the per-row arrays
        for t in range(max(U.shape[1], forced.shape[1])):
            n = max(b, 2)
            np.matmul(h[:, :n], self._Wh, out=gh[:, :n])
            gru_sampler.gru_gates(self._GX, self._bhn, x, gh, h, b)
            np.matmul(h[:, :n], self._Wy, out=logits[:, :n])
            b = gru_sampler.draw_step(logits, self._by, b, t, U, forced, temperature, min_steps, rows, x, h, chars,
                                      ll, done_at, lp_at)
            if not b:
                break
        return b

    def _forced(self, ix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feed START then ix[:-1] from a zero state, scoring each ix[t]: (log p of each (n,), final h (K, H), ll)."""
        n = len(ix)
        h = np.zeros((self.size, 2, self.hidden), dtype=np.float32)  # slot 1 is padding (see _advance)
        x = np.full(2, self.start)
        ll, lp_at = np.zeros(1), np.zeros((1, n))
        chars, done_at = np.zeros((1, n), dtype=np.int32), np.zeros(1, dtype=np.int64)
        self._advance(h, x, 1, _NO_U, ix[None, :], 1.0, 0, chars, ll, done_at, lp_at)
        return lp_at[0], h[:, 0].copy(), ll

    # -- scoring -------------------------------------------------------------------------------------------------
    def char_log_probs(self, name: str) -> np.ndarray:
        """log p of each character of `name` and of the final "\\n", from a zero hidden state (lower-case input)."""
        ix = self.vocab.encode(name, "name")
        return self._forced(np.append(ix, END))[0]

    # -- sampling ------------------------------------------------------------------------------------------------
    inline_max_count = 0  # ~0.2-0.4 ms per candidate: every batch runs in a worker thread
    attempt_cost = 10  # ~25x the RNN's work per candidate: a tenth of the attempt budget (<= ~1 s of CPU)
    max_batch = 512  # candidates per batch: ~0.1 s of work, so a client that leaves is noticed within ~0.1 s

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
        """Draw up to `count` names from the model conditioned on the constraints, by exact rejection sampling, one
        batch of candidates per step (see names_model.rejection_batches).

        A candidate longer than `max_length` is rejected the moment it passes the limit (never cut), one shorter
        than `min_length` when it ends; `max_attempts` bounds the total work so no request runs unbounded.
        """
        max_length = min(max_length, HARD_MAX_LENGTH)
        prefix_ix = self.vocab.encode(prefix, "prefix")
        # Run the prefix once from the zero state: its hidden state and log-likelihood seed every candidate.
        if len(prefix_ix):
            _, h0, ll = self._forced(prefix_ix)
            prefix_ll, prev = float(ll[0]), int(prefix_ix[-1])
        else:
            h0, prefix_ll, prev = np.zeros((self.size, self.hidden), dtype=np.float32), 0.0, self.start
        temperature = float(temperature)

        def draw_batch(batch: int):
            return self._sample_batch(batch, rng, temperature, h0, prev, len(prefix_ix), min_length, max_length)

        return rejection_batches(count, draw_batch, prefix=prefix, prefix_ll=prefix_ll, known=self.known,
                                exclude_known=exclude_known, unique=unique, max_attempts=max_attempts,
                                greedy=temperature == 0.0, max_batch=self.max_batch)

    def _sample_batch(self, batch, rng, temperature, h0, prev, prefix_len, min_length, max_length):
        """Yield (suffix, suffix log-likelihood) of the candidates in one batch that meet the lengths, in row order.

        All the batch's uniforms are drawn up front, then rows are stepped CHUNK at a time, lazily: when the caller
        has enough names it stops iterating and the remaining chunks are never computed (row order is kept, so
        which candidates are accepted does not depend on how long they took).
        """
        steps = max_length - prefix_len + 1  # characters to draw at most, the final "\n" included
        if steps <= 0:
            return  # the prefix alone is already too long: every candidate is rejected
        uniforms = rng.random((batch, steps))  # every draw's randomness, taken up front from the request's Generator
        for lo in range(0, batch, CHUNK):
            U = uniforms[lo: lo + CHUNK]  # (n, steps)
            n = len(U)
            h = np.repeat(h0[:, None, :], max(n, 2), axis=1)  # (K, S, H) float32, S >= 2 (see _advance)
            x = np.full(max(n, 2), prev)
            chars = np.zeros((n, steps), dtype=np.int32)
            ll = np.zeros(n)
            done_at = np.full(n, -1)  # step at which a kept candidate drew "\n"; -1 = rejected
            self._advance(h, x, n, U, _NO_FORCE, temperature, min_length - prefix_len, chars, ll, done_at, _NO_LP)
            kept = np.flatnonzero(done_at >= 0)
            text = self._table[chars[kept]]  # (R, steps) character codes
            for i, r in enumerate(kept):
                yield text[i, : done_at[r]].tobytes().decode(self._codec), float(ll[r])


# Empty stand-ins for the arrays a kernel call does not use (zero rows: nothing can be read or written).
_NO_U = np.zeros((0, 0))  # no uniforms: scoring forces every character
_NO_FORCE = np.zeros((0, 0), dtype=np.int64)  # no forced characters: sampling draws them
_NO_LP = np.zeros((0, 0))  # per-step log p not recorded


def save(out_dir: str | Path, name: str, members: list[dict[str, np.ndarray]], vocab: Vocab, known: list[str],
         meta: dict[str, Any]) -> Path:
    """Write `<name>.npz` (float64 parameters stacked over the members + known_names) and `<name>.json`."""
    params = {k: np.stack([np.asarray(m[k], dtype=np.float64) for m in members]) for k in members[0]}  # (K, ...)
    sizes = {"members": len(members), "hidden_size": int(params["Wh"].shape[1]),
             "embedding_size": int(params["E"].shape[2]) if "E" in params else 0}
    return write_npz_artifact(out_dir, name, KIND, params, known, vocab.chars, {**sizes, **meta})


def load(artifact_dir: str | Path, name: str) -> tuple[GRUNamesModel, dict[str, Any]]:
    """Load and validate `<artifact_dir>/<name>.json` and its weights; raises ArtifactError on any problem."""
    json_name = f"{name}.json"
    meta, weights, arrays = read_npz_artifact(artifact_dir, name, KIND)
    hidden, embed, size = meta.get("hidden_size"), meta.get("embedding_size", 0), meta.get("members")
    if not all(isinstance(v, int) and v >= low for v, low in ((hidden, 1), (embed, 0), (size, 1))):
        raise ArtifactError(f"{json_name}: 'hidden_size' and 'members' must be positive, 'embedding_size' "
                            "non-negative integers")
    vocab_chars = meta["vocab"]
    expected = {k: (size, *s) for k, s in gru.param_shapes(len(vocab_chars), hidden, embed).items()}
    missing = [k for k in expected if k not in arrays]
    extra = sorted(set(arrays) - set(expected) - {"known_names"})
    if missing or extra:
        raise ArtifactError(f"{weights}: missing arrays {missing}, unexpected arrays {extra} for {json_name}")
    for k, shape in expected.items():
        if arrays[k].shape != shape:
            raise ArtifactError(f"{weights}: parameter {k} has shape {arrays[k].shape}, expected {shape} from {json_name}")
    known = frozenset(str(s) for s in arrays["known_names"].tolist())
    members = [{k: arrays[k][i] for k in expected} for i in range(size)]
    return GRUNamesModel(members, Vocab(vocab_chars), known), meta
