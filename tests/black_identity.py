"""The one check that generated Python is exactly what black makes of it.

``tests/conftest.py`` sets ``SFIDL_CHECK_BLACK`` for the whole session, so every stubs
module any test compiles — in this process or in a child ``sfidl`` process, which inherits
the variable — is compared with black's formatting of the whole module, and a difference
fails that compile. ``assert_black_identical`` is the same comparison for a file a test
reads back.
"""

from __future__ import annotations

from sfidl.gen.python_format import black_difference


def assert_black_identical(text: str) -> None:
    """``text`` must be a fixed point of black at sfidl's line length."""
    difference = black_difference(text)
    assert not difference, "the generated Python is not what black makes of it:\n" + difference
