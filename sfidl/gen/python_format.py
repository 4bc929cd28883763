"""Generated Python in black's style, with black off the hot path.

The template and :mod:`sfidl.gen.black_layout` write the stubs the way black would leave
them; black itself only formats the top-level blocks that layout cannot vouch for (a
docstring with a backslash, a name long enough to need a split black makes differently).
Those blocks are formatted one at a time and remembered by content hash, in memory and in
the user's cache folder, so a large schema pays for black once per unusual block, not per
compile. Black's formatting is a function of the block's text, so the cache can only hit
for the same input; the result is byte-identical to black on the whole file (the tests run
black on every compiled stubs file to prove it).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import cache
from pathlib import Path

from sfidl.gen.black_layout import LINE_LENGTH, black_stable, top_level_blocks
from sfidl.user_cache import user_cache_dir

# Set (to anything) to have every formatted module compared with black's formatting of the
# whole of it, an internal error when they differ: the test suite sets it for every compile
# it runs, in-process or not. Off, black is never imported for a module layout vouches for.
CHECK_VARIABLE = "SFIDL_CHECK_BLACK"

_formatted: dict[str, str] = {}  # block -> black's text, for this process
_checked: set[str] = set()  # modules already compared with black, for this process


def format_python(text: str) -> str:
    """``text`` (a module the stubs template wrote) exactly as black would format it."""
    blocks = []
    for lines in top_level_blocks(text):
        block = "\n".join(lines) + "\n"
        blocks.append(block if black_stable(lines) else _black(block))
    result = "\n\n".join(blocks)
    if os.environ.get(CHECK_VARIABLE) and result not in _checked:
        difference = black_difference(result)
        if difference:
            raise AssertionError(f"generated Python differs from black's formatting:\n{difference}")
        _checked.add(result)
    return result


def black_difference(text: str) -> str:
    """The start of a diff from ``text`` to black's formatting of it; empty when identical."""
    import difflib

    import black

    formatted = black.format_str(text, mode=black.Mode(line_length=LINE_LENGTH))
    diff = difflib.unified_diff(
        text.splitlines(True), formatted.splitlines(True), "generated", "black"
    )
    return "".join(list(diff)[:60])


def _black(block: str) -> str:
    """Black's formatting of one top-level block, from the cache when it has seen it."""
    done = _formatted.get(block)
    if done is not None:
        return done
    key = hashlib.sha256(f"{_black_version()}\0{LINE_LENGTH}\0{block}".encode()).hexdigest()
    folder = user_cache_dir() / "black"
    path = folder / f"{key}.py"
    try:
        done = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        import black  # only here: most compiles never need it

        done = black.format_str(block, mode=black.Mode(line_length=LINE_LENGTH))
        _store(folder, path, done)
    _formatted[block] = done
    return done


@cache
def _black_version() -> str:
    import importlib.metadata  # only here: it costs more to import than a small compile

    return importlib.metadata.version("black")


def _store(folder: Path, path: Path, text: str) -> None:
    """Write a cache entry atomically; a cache folder that cannot be written is no error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
