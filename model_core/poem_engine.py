"""Poem generation from a CharLSTM: the notebook's window semantics (default) or a carried state, one draw per
character from a per-request `numpy.random.Generator`.

Modes
- window:   each character is predicted from the last `tx` characters exactly as the Keras model sees them (each
            window from a zero state); a short context is padded on the left with all-zero rows *by position* (the
            course pads with the character '0', which makes a real '0' vanish; here nothing is confused with padding).
            The tx overlapping windows are advanced together, one batched product per layer per character.
- stateful: the first window (as above) is fed once, so the first character is drawn from the same distribution as
            in window mode; then every drawn character is fed into the carried LSTM state: ~40x less arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from model_core.lstm import CharLSTM, SlidingWindows
from model_core.vocab import Vocab, ascii_lower

MODES = ("window", "stateful")


@dataclass(frozen=True)
class PoemEngine:
    lstm: CharLSTM
    vocab: Vocab
    tx: int  # window length the model was trained on

    def warm_up(self) -> None:
        """Run both modes once so the compiled kernels are loaded before the first request."""
        for mode in MODES:
            "".join(self.generate("", 2, np.random.default_rng(0), 1.0, mode))

    def normalise_prompt(self, prompt: str) -> str:
        """Lower-case the prompt and check it; raises UnknownCharactersError naming characters outside the vocab."""
        text = ascii_lower(prompt)
        self.vocab.check(text, "prompt")
        return text

    def generate(self, prompt: str, length: int, rng: np.random.Generator, temperature: float = 1.0,
                 mode: str = "window") -> Iterator[str]:
        """Yield `length` characters continuing `prompt` (already normalised). Stopping the iterator stops the work."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        ids = self.vocab.encode(prompt, "prompt")
        if mode == "window":
            yield from self._window(ids, length, rng, temperature)
        else:
            yield from self._stateful(ids, length, rng, temperature)

    def _window(self, ids: np.ndarray, length: int, rng, temperature: float) -> Iterator[str]:
        # The tx overlapping windows advance together (see SlidingWindows); -1 marks padding rows on the left.
        windows = SlidingWindows(self.lstm, self._first_window(ids))
        for n in range(length):
            logp = windows.log_probs()  # (V,) log p(next | the last tx characters), exactly the Keras model's
            ix = draw(logp, temperature, rng)  # one character
            yield self.vocab.chars[ix]
            if n + 1 < length:
                windows.advance(ix)  # slide every window over it

    def _first_window(self, ids: np.ndarray) -> np.ndarray:
        """The prompt's last tx characters, padded on the left with -1 (all-zero rows) to exactly tx."""
        window = np.full(self.tx, -1, dtype=np.int64)
        keep = ids[len(ids) - min(len(ids), self.tx) :]
        window[self.tx - len(keep) :] = keep
        return window

    def _stateful(self, ids: np.ndarray, length: int, rng, temperature: float) -> Iterator[str]:
        state = self.lstm.zero_state()
        logp = None
        for ix in self._first_window(ids):  # warm up on the window mode's first window: same first prediction
            logp = self.lstm.step_log_probs(int(ix), state)
        for _ in range(length):
            ix = draw(logp, temperature, rng)
            yield self.vocab.chars[ix]
            logp = self.lstm.step_log_probs(ix, state)  # carry the state over the drawn character


def draw(logp: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """One index from log-probabilities: argmax at temperature 0, else inverse CDF on renormalised float64 weights."""
    if temperature == 0:
        return int(np.argmax(logp))
    logp = np.asarray(logp, dtype=np.float64)
    with np.errstate(over="ignore"):  # <= 0 before dividing: a tiny T only overflows toward -inf (max stays 0)
        z = (logp - logp.max()) / temperature
    cdf = np.cumsum(np.exp(z))
    u = rng.random() * cdf[-1]  # scaling by the total renormalises exactly
    return int(min(np.searchsorted(cdf, u, side="right"), len(cdf) - 1))
