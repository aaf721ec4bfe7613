"""Hypothesis strategies for hostile file names, and the check that a name is safe."""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath

from hypothesis import strategies as st

DEST = PurePosixPath("/dest")

# Text rich in the characters that matter: separators, dots, NUL, controls, unicode.
nasty_chars = st.one_of(
    st.sampled_from(["/", "\\", ".", "..", " ", "\x00", "\n", "\x1b", "\x7f", ":", "*"]),
    st.sampled_from(["\x85", "\x9b", "é", "😀", "\u210c", "\u202e", "\ufeff"]),
    st.characters(codec="utf-8"),
)
nasty_names = st.one_of(
    st.text(),
    st.lists(nasty_chars, max_size=30).map("".join),
    st.lists(nasty_chars, min_size=60, max_size=260).map("".join),
    st.builds(lambda a, b: a * 300 + b, st.sampled_from(["a", "é", "😀", "."]), st.text()),
)


def assert_safe_name(name: str) -> None:
    assert name
    assert "/" not in name
    assert "\\" not in name
    assert "\x00" not in name
    assert not any(unicodedata.category(char) in ("Cc", "Cf") for char in name), repr(name)
    assert name not in (".", "..")
    assert not name.startswith(".")
    assert not name.endswith((".", " "))  # the docstring strips trailing dots and spaces
    assert len(name.encode()) <= 250
    assert (DEST / name).parent == DEST
    assert (DEST / name).name == name
