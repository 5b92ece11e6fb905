"""Character vocabularies: built from a corpus, saved in artifacts, and strict about unknown characters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np


class UnknownCharactersError(ValueError):
    """Raised when text contains characters the model has never seen; names them and the allowed set."""

    def __init__(self, unknown: list[str], allowed: str, what: str = "text"):
        self.unknown = unknown
        self.allowed = allowed
        shown = ", ".join(repr(c) for c in unknown)
        super().__init__(f"{what} contains characters outside the vocabulary: {shown}; allowed: {describe(allowed)}")


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only: user input is case-insensitive over the vocabulary's ASCII letters, while look-alikes such
    as the Kelvin sign (U+212A, whose str.lower() is "k") or "İ" (which lowers to "i" plus a combining dot) stay what
    they are, so they are refused and named as typed."""
    return text.translate(_ASCII_LOWER)


def describe(chars: str) -> str:
    """A readable summary of a character set, e.g. "a-z and '\\n'"."""
    printable = "".join(c for c in chars if c.isprintable())
    special = [repr(c) for c in chars if not c.isprintable()]
    if printable == "abcdefghijklmnopqrstuvwxyz":
        printable = "a-z"
    else:
        printable = repr(printable)
    return printable + (" and " + ", ".join(special) if special else "")


@dataclass(frozen=True)
class Vocab:
    """An ordered character set. Index 0 is `chars[0]` (for the names model that is "\\n", the end-of-name)."""

    chars: str

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        """Sorted distinct characters of the lower-cased text ("\\n" sorts first among a-z)."""
        return cls("".join(sorted(set(text.lower()))))

    @property
    def size(self) -> int:
        return len(self.chars)

    @property
    def char_to_ix(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    @property
    def ix_to_char(self) -> dict[int, str]:
        return dict(enumerate(self.chars))

    def unknown(self, text: str) -> list[str]:
        """Distinct characters of `text` outside the vocabulary, in order of first appearance."""
        allowed = set(self.chars)
        seen: dict[str, None] = {}
        for c in text:
            if c not in allowed:
                seen.setdefault(c, None)
        return list(seen)

    def check(self, text: str, what: str = "text") -> None:
        bad = self.unknown(text)
        if bad:
            raise UnknownCharactersError(bad, self.chars, what)

    def encode(self, text: str, what: str = "text") -> np.ndarray:
        """Indices of `text` (already lower-cased by the caller); raises UnknownCharactersError naming offenders."""
        self.check(text, what)
        lookup = self.char_to_ix
        return np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, indices: Iterable[int]) -> str:
        return "".join(self.chars[int(i)] for i in indices)
