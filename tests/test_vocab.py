from __future__ import annotations

import pytest

from model_core.sonnets import SONNETS_VOCAB
from model_core.vocab import UnknownCharactersError, Vocab


def test_from_text_sorted_newline_first():
    v = Vocab.from_text("Abc\nBca\n")
    assert v.chars == "\nabc" and v.char_to_ix["\n"] == 0


def test_encode_names_offending_characters():
    v = Vocab("\nabc")
    with pytest.raises(UnknownCharactersError) as err:
        v.encode("abz1z", "prefix")
    assert err.value.unknown == ["z", "1"]
    assert "'z'" in str(err.value) and "'1'" in str(err.value) and "prefix" in str(err.value)


def test_round_trip():
    v = Vocab("\nabc")
    assert v.decode(v.encode("cab")) == "cab"


def test_dinos_vocab_is_a_z_and_newline(dinos_path):
    v = Vocab.from_text(dinos_path.read_text())
    assert v.chars == "\nabcdefghijklmnopqrstuvwxyz"


def test_legacy_vocab_constant_is_the_sonnets_vocab(shakespeare_path):
    assert Vocab.from_text(shakespeare_path.read_text()).chars == SONNETS_VOCAB
    assert len(SONNETS_VOCAB) == 38
