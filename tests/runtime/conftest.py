"""The compiled test program: ``calls.sfidl`` compiled once per session, importable by name."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from sfidl.compiler import compile_file

CALLS_SFIDL = Path(__file__).with_name("calls.sfidl")


@pytest.fixture(scope="session")
def calls_out(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The folder holding ``calls.proto``, ``calls_pb2.py(i)`` and ``calls_sfidl.py``, on sys.path."""
    out = tmp_path_factory.mktemp("calls")
    for name, data in compile_file(CALLS_SFIDL).files.items():
        (out / name).write_bytes(data)
    sys.path.insert(0, str(out))
    yield out
    sys.path.remove(str(out))


@pytest.fixture(scope="session")
def impls(calls_out: Path) -> ModuleType:
    """tests.runtime.impls: the implementations of the generated classes (imports calls_sfidl)."""
    return importlib.import_module("tests.runtime.impls")
