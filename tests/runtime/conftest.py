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
from sfidl.runtime.invocation import RUNTIME_STATE, Invocation
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
    """Every test here also checks that the runtime changes the hidden state only through
    ``Invocation.changing``: an unmarked change would silently never be written back."""
    read, finish = Invocation.read, Invocation.finish
    before: dict[int, bytes] = {}  # the hidden state as read, by id() of its invocation

    def reading(self: Invocation, name: str) -> Any:
        value = read(self, name)
        if name == RUNTIME_STATE:
            before[id(self)] = b"" if value is None else encode(value)
        return value

    def finishing(self: Invocation) -> None:
        runtime = self._runtime
        if runtime is not None and not self.runtime_changed:
            assert encode(runtime) == before[id(self)], "the hidden state changed unmarked"
        before.pop(id(self), None)
        finish(self)

    monkeypatch.setattr(Invocation, "read", reading)
    monkeypatch.setattr(Invocation, "finish", finishing)
