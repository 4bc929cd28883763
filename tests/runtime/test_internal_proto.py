"""The runtime's own messages: the checked-in ``internal_pb2.py``/``.pyi`` match ``internal.proto``.

The hidden state is persisted by StateFun, so its field numbers are pinned here too: a
renumbered field would misread every pending call a running deployment holds.
"""

from __future__ import annotations

from pathlib import Path

import black

import sfidl.runtime
from sfidl.gen.protoc import compile_protos
from sfidl.runtime.internal_pb2 import (
    HeldMessage,
    PendingCall,
    PendingGroup,
    PendingReply,
    ReplyExpired,
    RuntimeState,
)

RUNTIME = Path(sfidl.runtime.__file__).parent
PROTO = "sfidl/runtime/internal.proto"


def test_the_checked_in_modules_are_compiled_from_internal_proto() -> None:
    compiled = compile_protos({PROTO: (RUNTIME / "internal.proto").read_text()})
    for name, data in compiled.items():
        mode = black.Mode(line_length=100, is_pyi=name.endswith(".pyi"))
        expected = black.format_str(data.decode(), mode=mode)
        assert (RUNTIME / Path(name).name).read_text() == expected, f"{name} is out of date"


def test_hidden_state_field_numbers_never_change() -> None:
    def numbers(cls: type) -> dict[str, int]:
        return {f.name: f.number for f in cls.DESCRIPTOR.fields}  # type: ignore[attr-defined]

    assert numbers(RuntimeState) == {"next_id": 1, "pending": 2, "replies": 3, "held": 4}
    assert numbers(PendingGroup) == {
        "continuation": 1,
        "calls": 2,
        "carried": 3,
        "has_carried": 4,
        "timeout_token": 5,
        "timeout_millis": 6,
    }
    assert numbers(PendingCall) == {
        "target_typename": 1,
        "target_id": 2,
        "request": 3,
        "reply": 4,
        "done": 5,
        "handler": 6,
    }
    assert numbers(PendingReply) == {
        "caller_typename": 1,
        "caller_id": 2,
        "correlation_id": 3,
        "handler": 4,
        "deadline_millis": 5,
        "cleanup_token": 6,
    }
    assert numbers(HeldMessage) == {"typename": 1, "value": 2, "caller_typename": 3, "caller_id": 4}
    assert numbers(ReplyExpired) == {"reply": 1}
