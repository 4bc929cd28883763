"""Dataclasses' generated methods, compiled once and kept between runs.

``@dataclass`` writes the source of ``__init__``, ``__eq__``, ``__repr__``, ``__hash__``
(and a frozen class's ``__setattr__``) and compiles it, for every class, on every import:
with sfidl's hundred-odd dataclasses (the AST, the model, the generators' views) that
compiling was over a third of the import time of a small compile. While :func:`cached` is
active, the ``exec`` the ``dataclasses`` module calls on that source finds the code object
compiled from the very same text in a cache (the user cache folder, one file per Python
version, as ``marshal`` data like the ``.pyc`` files Python keeps itself; each entry is
unmarshalled only when used), so nothing changes but the time: the text is the key, the
code is what ``compile`` makes of it.

A cache that cannot be read or written is no error: the methods are compiled as usual.
"""

from __future__ import annotations

import builtins
import dataclasses
import marshal
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import CodeType
from typing import Any

from sfidl.user_cache import user_cache_dir

_MAX_ENTRIES = 5000  # beyond this the file is not grown (it holds sfidl's few hundred)


@contextmanager
def cached() -> Iterator[None]:
    """Serve the compiles of dataclasses created meanwhile from the cache (and add to it)."""
    if "exec" in vars(dataclasses):  # already active (or someone else's): leave it alone
        yield
        return
    path = user_cache_dir() / "dataclasses" / f"{sys.implementation.cache_tag}.marshal"
    known = _load(path)
    added: dict[str, bytes] = {}

    def cached_exec(
        source: Any, globals: dict[str, Any] | None = None, locals: Mapping[str, Any] | None = None
    ) -> None:
        if isinstance(source, str):
            source = _code(source, known) or _compiled(source, added)
        builtins.exec(source, globals, locals)

    setattr(dataclasses, "exec", cached_exec)
    try:
        yield
    finally:
        delattr(dataclasses, "exec")
        if added and len(known) + len(added) <= _MAX_ENTRIES:
            _save(path, {**known, **added})


def _code(source: str, known: dict[str, bytes]) -> CodeType | None:
    try:
        code = marshal.loads(known[source])
    except (KeyError, EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def _compiled(source: str, added: dict[str, bytes]) -> CodeType:
    code = compile(source, "<string>", "exec")
    added[source] = marshal.dumps(code)
    return code


def _load(path: os.PathLike[str]) -> dict[str, bytes]:
    try:
        with open(path, "rb") as stream:
            loaded = marshal.load(stream)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {k: v for k, v in loaded.items() if isinstance(k, str) and isinstance(v, bytes)}


def _save(path: Any, entries: dict[str, bytes]) -> None:
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "wb") as stream:
            marshal.dump(entries, stream)
        os.replace(temporary, path)  # whole or not at all, for a concurrent reader
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
