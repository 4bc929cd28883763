"""The compiled test program: ``calls.sfidl`` compiled once per session, importable by name."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sfidl.compiler import compile_file
from sfidl.runtime.invocation import Invocation
from sfidl.runtime.types import encode

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


@pytest.fixture(autouse=True)
def hidden_state_changes_are_marked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here also checks that the runtime marks every change of the hidden state
    (``Invocation.changing`` or ``runtime_changed``): an unmarked one would silently never
    be written back."""
    runtime, finish = Invocation.runtime, Invocation.finish
    assert isinstance(runtime, property) and runtime.fget is not None
    read = runtime.fget
    before: dict[int, bytes] = {}  # the hidden state as read, by id() of its invocation

    def reading(self: Invocation) -> Any:
        first = self._runtime is None
        value = read(self)
        if first:
            before[id(self)] = encode(value)
        return value

    def finishing(self: Invocation) -> None:
        value = self._runtime
        if value is not None and not self.runtime_changed:
            assert encode(value) == before[id(self)], "the hidden state changed unmarked"
        before.pop(id(self), None)
        finish(self)

    monkeypatch.setattr(Invocation, "runtime", property(reading))
    monkeypatch.setattr(Invocation, "finish", finishing)
