"""The hidden state's own format survives sfidl upgrades.

An sfidl function that calls, sets timers, defers or holds keeps the state
`sfidl_runtime` (``RuntimeState`` in sfidl/runtime/internal.proto), and sfidl's delayed self-messages carry the other messages
of that file: StateFun stores both across a deploy of a newer sfidl. The user's file does
not declare them, so `sfidl breaking` cannot see them; this test runs its WIRE rules over
internal.proto against the released format (tests/breaking_runtime_state/released.sfidl).
"""

from __future__ import annotations

import re
from pathlib import Path

from sfidl.breaking import Category, compare
from sfidl.frontend import LoadedProgram, load_program
from sfidl.runtime import internal_pb2
from sfidl.runtime.invocation import RUNTIME_STATE

ROOT = Path(__file__).parent.parent
RELEASED = Path(__file__).parent / "breaking_runtime_state" / "released.sfidl"


def _as_sfidl(proto: str, folder: Path) -> LoadedProgram:
    """internal.proto as a .sfidl file: the message syntax is the same."""
    text = re.sub(r'^syntax = "proto3";$', "", proto, flags=re.M)
    text = re.sub(r"^package (\S+);$", r"namespace \1;", text, flags=re.M)
    path = folder / "internal.sfidl"
    path.write_text(text)
    return load_program(path)


def _findings(current: str, folder: Path) -> list[str]:
    new = _as_sfidl(current, folder)
    old = load_program(RELEASED)
    result = compare(old.program, new.program, new.sources, categories={Category.WIRE})
    return [f"{f.rule.id}: {f.change.message}" for f in result.findings]


def test_the_hidden_state_keeps_its_released_format(tmp_path: Path) -> None:
    current = (ROOT / "sfidl" / "runtime" / "internal.proto").read_text()
    assert _findings(current, tmp_path) == []
    # Its name and typename are part of the format too.
    assert RUNTIME_STATE == "sfidl_runtime"
    assert internal_pb2.RuntimeState.DESCRIPTOR.full_name == "sfidl.v1.RuntimeState"


def test_a_change_that_would_break_stored_hidden_state_is_caught(tmp_path: Path) -> None:
    current = (ROOT / "sfidl" / "runtime" / "internal.proto").read_text()
    renumbered = current.replace("repeated HeldMessage held = 4;", "repeated HeldMessage held = 7;")
    assert renumbered != current
    assert _findings(renumbered, tmp_path) == [
        "FIELD_NO_DELETE: `RuntimeState` lost its field `held = 4` without reserving its number"
    ]
