"""The ToFunction bytes the engine writes directly are those protobuf makes of the same request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from statefun.request_reply_pb2 import ToFunction, TypedValue

from sfidl.local.records import Address
from sfidl.local.store import Queued
from sfidl.local.to_function import build_request


def through_protobuf(
    target: Address,
    states: Sequence[str],
    values: Mapping[str, tuple[str, bytes]],
    batch: Sequence[Queued],
) -> bytes:
    request = ToFunction()
    invocation = request.invocation
    invocation.target.namespace = target.namespace
    invocation.target.type = target.type
    invocation.target.id = target.id
    for name in states:
        persisted = invocation.state.add()
        persisted.state_name = name
        if name in values:
            typename, value = values[name]
            persisted.state_value.typename = typename
            persisted.state_value.has_value = True
            persisted.state_value.value = value
    for queued in batch:
        pb = invocation.invocations.add()
        if queued.caller is not None:
            pb.caller.namespace = queued.caller.namespace
            pb.caller.type = queued.caller.type
            pb.caller.id = queued.caller.id
        pb.argument.ParseFromString(queued.argument)
    data: bytes = request.SerializeToString()
    return data


TARGET = Address("démo", "counter", "k" * 300)  # non-ASCII, and a length over one varint byte
ARGUMENT = TypedValue(typename="demo/x", has_value=True, value=b"v" * 200).SerializeToString()
LARGE = TypedValue(typename="demo/x", has_value=True, value=b"v" * 20000).SerializeToString()
BATCH = [
    Queued(1, TARGET, None, ARGUMENT, 0),
    Queued(2, TARGET, Address("a", "b", "c"), b"", 0),  # an empty argument
    Queued(3, TARGET, Address("", "", ""), ARGUMENT, 0),  # a caller with nothing set
    Queued(4, TARGET, Address("a", "b", "c"), LARGE, 0),  # lengths over two varint bytes
] * 50
STATES = (("total", "note", ""), {"total": ("t/long", b""), "": ("t/s", b"s" * 1000)})


@pytest.mark.parametrize("states, values", [((), {}), STATES])
@pytest.mark.parametrize("size", [0, 1, len(BATCH)])
def test_same_bytes_as_protobuf(
    states: Sequence[str], values: Mapping[str, tuple[str, bytes]], size: int
) -> None:
    written = build_request(TARGET, states, values, BATCH[:size])
    assert written == through_protobuf(TARGET, states, values, BATCH[:size])
    parsed = ToFunction.FromString(written)
    assert [i.argument.SerializeToString() for i in parsed.invocation.invocations] == [
        q.argument for q in BATCH[:size]
    ]
