"""The one check that generated Python is exactly what black makes of it.

``install`` (run for every test session by ``tests/conftest.py``) wraps the stubs
generator's formatter so that every stubs file any test compiles in-process is compared
with ``black.format_str`` of itself; ``assert_black_identical`` is the check, for tests
that compile in a child process and read the files.
"""

from __future__ import annotations

from collections.abc import Callable

import black
import pytest

from sfidl.gen import stubs
from sfidl.gen.black_layout import LINE_LENGTH

_checked: set[str] = set()  # texts already compared (the same stubs are compiled often)


def assert_black_identical(text: str) -> None:
    """``text`` must be a fixed point of black at sfidl's line length."""
    if text in _checked:
        return
    formatted = black.format_str(text, mode=black.Mode(line_length=LINE_LENGTH))
    assert formatted == text, "the generated Python is not what black makes of it:\n" + "".join(
        _first_difference(text, formatted)
    )
    _checked.add(text)


def _first_difference(text: str, formatted: str) -> list[str]:
    import difflib

    diff = difflib.unified_diff(
        text.splitlines(True), formatted.splitlines(True), "generated", "black"
    )
    return list(diff)[:60]


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check every stubs text the generator formats from now on."""
    original: Callable[[str], str] = stubs.format_python

    def checked(text: str) -> str:
        result = original(text)
        assert_black_identical(result)
        return result

    monkeypatch.setattr(stubs, "format_python", checked)
