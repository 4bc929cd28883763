"""What the generated code puts on the wire is what the official SDK reads, and the reverse."""

from __future__ import annotations

import time

import shop_pb2 as pb
import statefun
from shop_app import app
from statefun.kafka_egress_pb2 import KafkaProducerRecord
from statefun.request_reply_pb2 import TypedValue
from statefun.utils import to_typed_value

from tests.protocol import Driver, Envelope

CART = "com.example.shop/user_cart"
INVENTORY = "com.example.shop/inventory"


def sdk_message(value: TypedValue, cls: type) -> object:
    message = statefun.Message(target_typename=INVENTORY, target_id="x", typed_value=value)
    tpe = statefun.make_protobuf_type(cls)
    assert message.is_type(tpe)
    return message.as_type(tpe)


def test_outgoing_messages_decode_with_the_sdk_protobuf_type() -> None:
    driver = Driver(app)
    before = time.time_ns() // 1_000_000
    result = driver.invoke(CART, "ada", pb.AddToCart(user_id="ada", item_id="hat", quantity=3))
    after = time.time_ns() // 1_000_000
    call = sdk_message(result.outgoing_messages[0].argument, pb.InventoryReserveCall)
    assert isinstance(call, pb.InventoryReserveCall)
    # The caller's deadline travels with the call: now (the wall clock) + the 5 s timeout.
    assert before + 5_000 <= call.deadline_millis <= after + 5_000
    call.ClearField("deadline_millis")
    assert call == pb.InventoryReserveCall(correlation_id="0.0", request=pb.Reserve(quantity=3))


def test_messages_built_by_the_sdk_are_handled() -> None:
    driver = Driver(app)
    built = statefun.message_builder(
        target_typename=INVENTORY,
        target_id="hat",
        value=pb.Restock(quantity=4),
        value_type=statefun.make_protobuf_type(pb.Restock),
    )
    driver.invoke(INVENTORY, "hat", Envelope(built.typed_value))
    assert driver.state[(INVENTORY, "hat")]["stock"] == to_typed_value(statefun.IntType, 4)


def test_scalar_state_is_the_sdk_built_in_type_both_ways() -> None:
    driver = Driver(app)
    driver.invoke(INVENTORY, "hat", pb.Restock(quantity=4))
    stored = driver.state[(INVENTORY, "hat")]["stock"]
    assert stored.typename == statefun.IntType.typename
    assert statefun.IntType.serializer().deserialize(stored.value) == 4

    # A value the SDK wrote is read back: 10 + 1.
    driver.state[(INVENTORY, "hat")]["stock"] = to_typed_value(statefun.IntType, 10)
    driver.invoke(INVENTORY, "hat", pb.Restock(quantity=1))
    assert (
        statefun.IntType.serializer().deserialize(driver.state[(INVENTORY, "hat")]["stock"].value)
        == 11
    )


def test_message_state_is_the_sdk_protobuf_type_both_ways() -> None:
    driver = Driver(app)
    cart_type = statefun.make_protobuf_type(pb.Cart)
    driver.invoke(CART, "ada", pb.Checkout(user_id="ada"))  # registers the state
    driver.state[(CART, "ada")]["cart"] = to_typed_value(cart_type, pb.Cart(items={"hat": 2}))

    result = driver.invoke(CART, "ada", pb.Checkout(user_id="ada"))

    record = KafkaProducerRecord.FromString(result.outgoing_egresses[0].argument.value)
    assert pb.Receipt.FromString(record.value_bytes).items == {"hat": 2}


def test_egress_records_equal_the_sdk_helper_output() -> None:
    driver = Driver(app)
    driver.invoke(CART, "ada", pb.Checkout(user_id="ada"))
    ours = driver.invoke(CART, "ada", pb.Checkout(user_id="ada")).outgoing_egresses[0]
    theirs = statefun.kafka_egress_message(
        typename="com.example.shop/receipts",
        topic="receipts",
        value=pb.Receipt(user_id="ada").SerializeToString(),
        key="ada",
    )
    assert ours.argument == theirs.typed_value
