"""sfidl.wire says what the StateFun SDK does: the compiler reads the table, the runtime the SDK."""

from __future__ import annotations

import statefun
from google.protobuf.wrappers_pb2 import StringValue
from statefun.request_reply_pb2 import FromFunction

import sfidl.runtime
from sfidl.local import codec
from sfidl.wire import (
    PROTOBUF_TYPENAME_PREFIX,
    STATE_SCALARS,
    Address,
    ExpireMode,
    is_typename,
    message_typename,
)

PYTHON_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def test_each_state_scalar_is_the_sdk_type_the_runtime_exports() -> None:
    for name, scalar in STATE_SCALARS.items():
        sdk_type = getattr(sfidl.runtime, scalar.constant)
        assert sdk_type.typename == scalar.typename, name
        value = PYTHON_TYPES[scalar.python]()
        serializer = sdk_type.serializer()
        assert type(serializer.deserialize(serializer.serialize(value))) is type(value), name
        # The local runtime decodes the same typenames to the same Python values.
        assert codec.decode(scalar.typename, serializer.serialize(value)) == value


def test_a_message_typename_is_the_sdks() -> None:
    made = statefun.make_protobuf_type(StringValue)
    assert made.typename == message_typename("google.protobuf.StringValue")
    assert made.typename.startswith(PROTOBUF_TYPENAME_PREFIX)


def test_expire_modes_carry_the_protocols_numbers() -> None:
    protocol = dict(FromFunction.ExpirationSpec.ExpireMode.items())
    assert {mode.name: mode.value for mode in ExpireMode} == {
        "NONE": protocol["NONE"],
        "AFTER_WRITE": protocol["AFTER_WRITE"],
        "AFTER_CALL": protocol["AFTER_INVOKE"],
    }


def test_an_address_reads_and_prints_its_function_typename() -> None:
    address = Address.of("com.example.shop/inventory", "socks")
    assert address == Address("com.example.shop", "inventory", "socks")
    assert address.typename == "com.example.shop/inventory"
    assert str(address) == "com.example.shop/inventory/socks"
    sdk = statefun.SdkAddress("com.example.shop", "inventory", "socks", address.typename)
    assert Address.from_sdk(sdk) == address
    assert Address.from_sdk(None) is None


def test_a_typename_has_exactly_one_slash_between_two_parts() -> None:
    assert is_typename("com.example.shop/inventory")
    for text in ("inventory", "/inventory", "com.example/", "a/b/c", ""):
        assert not is_typename(text), text
