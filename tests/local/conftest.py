"""``calls_local.sfidl`` compiled once per session, for the tests that need an sfidl application."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from sfidl.compiler import compile_file

CALLS_LOCAL_SFIDL = Path(__file__).with_name("calls_local.sfidl")


@pytest.fixture(scope="session")
def calls_local_out(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The folder holding ``calls_local_pb2.py`` and ``calls_local_sfidl.py``, on sys.path."""
    out = tmp_path_factory.mktemp("calls_local")
    for name, data in compile_file(CALLS_LOCAL_SFIDL).files.items():
        (out / name).write_bytes(data)
    sys.path.insert(0, str(out))
    yield out
    sys.path.remove(str(out))


@pytest.fixture(scope="session")
def calls(calls_local_out: Path) -> ModuleType:
    """tests.local.calls_impls: implementations of the generated classes (imports calls_local_sfidl)."""
    return importlib.import_module("tests.local.calls_impls")


HTTP_LOCAL_SFIDL = Path(__file__).with_name("http_local.sfidl")


@pytest.fixture(scope="session")
def http_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """tests.local.http_impls over ``http_local.sfidl``, compiled once and put on sys.path."""
    out = tmp_path_factory.mktemp("http_local")
    for name, data in compile_file(HTTP_LOCAL_SFIDL).files.items():
        (out / name).write_bytes(data)
    sys.path.insert(0, str(out))
    yield importlib.import_module("tests.local.http_impls")
    sys.path.remove(str(out))
