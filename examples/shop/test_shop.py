"""The shop end to end through the SDK's RequestReplyHandler, with real protocol bytes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta

import pytest
import shop_pb2 as pb
from shop_app import IDLE_CART, InventoryFunction, UserCartFunction, app
from shop_sfidl import InventoryContext, InventoryReserveOutcome, ShopApp, UserCartAddContext
from statefun.kafka_egress_pb2 import KafkaProducerRecord
from statefun.request_reply_pb2 import FromFunction

from sfidl.runtime.internal_pb2 import CallTimeout, TimerFired
from sfidl.testing import Harness
from tests.protocol import Driver, decode, forward, outgoing

CART = "com.example.shop/user_cart"
INVENTORY = "com.example.shop/inventory"
ExpireMode = FromFunction.ExpirationSpec.ExpireMode


@pytest.fixture
def driver() -> Driver:
    return Driver(app)


def specs(driver: Driver, typename: str) -> dict[str, tuple[str, int, int]]:
    return {
        name: (s.type_typename, s.expiration_spec.mode, s.expiration_spec.expire_after_millis)
        for name, s in driver.registered[typename].items()
    }


def test_first_contact_asks_for_the_declared_state_with_its_expiry(driver: Driver) -> None:
    driver.invoke(CART, "ada", pb.Checkout(user_id="ada"))

    assert [v.state_name for v in driver.handshakes[0].missing_values] == [
        "cart",
        "expiry",
        "sfidl_runtime",
    ]
    assert specs(driver, CART) == {
        "cart": ("type.googleapis.com/com.example.shop.Cart", ExpireMode.AFTER_WRITE, 3_600_000),
        "expiry": ("io.statefun.types/string", ExpireMode.NONE, 0),
        "sfidl_runtime": ("type.googleapis.com/sfidl.v1.RuntimeState", ExpireMode.NONE, 0),
    }


def test_adding_an_item_reserves_it_then_fills_the_cart(driver: Driver) -> None:
    driver.invoke(INVENTORY, "socks", pb.Restock(quantity=5))

    added = driver.invoke(CART, "ada", pb.AddToCart(user_id="ada", item_id="socks", quantity=2))
    [(target, target_id, argument)] = outgoing(added)
    assert (target, target_id) == (INVENTORY, "socks")
    call = decode(argument, pb.InventoryReserveCall)
    assert call.request == pb.Reserve(quantity=2)
    [timeout] = added.delayed_invocations
    assert timeout.delay_in_ms == 5000
    assert decode(timeout.argument, CallTimeout).group == call.correlation_id.split(".")[0]

    reserved = driver.invoke(INVENTORY, "socks", forward(added, sender=(CART, "ada")))
    [(target, target_id, argument)] = outgoing(reserved)
    assert (target, target_id) == (CART, "ada")
    reply = decode(argument, pb.InventoryReserveReply)
    assert reply.correlation_id == call.correlation_id
    assert reply.reply == pb.Reserved(remaining=3)
    assert [m.state_name for m in reserved.state_mutations] == ["stock"]

    filled = driver.invoke(CART, "ada", forward(reserved, sender=(INVENTORY, "socks")))
    cancel, idle_timer = filled.delayed_invocations
    assert (
        cancel.is_cancellation_request and cancel.cancellation_token == timeout.cancellation_token
    )
    assert idle_timer.delay_in_ms == IDLE_CART // timedelta(milliseconds=1)
    assert decode(idle_timer.argument, TimerFired).timer == "expire"
    cart = {m.state_name: m for m in filled.state_mutations}["cart"]
    assert decode(cart.state_value, pb.Cart).items == {"socks": 2}


def test_out_of_stock_leaves_the_cart_alone(driver: Driver) -> None:
    added = driver.invoke(CART, "ada", pb.AddToCart(user_id="ada", item_id="socks", quantity=1))
    refused = driver.invoke(INVENTORY, "socks", forward(added, sender=(CART, "ada")))
    reply = decode(outgoing(refused)[0][2], pb.InventoryReserveReply)
    assert reply.WhichOneof("outcome") == "out_of_stock"
    assert reply.out_of_stock == pb.OutOfStock(item_id="socks", available=0)

    after = driver.invoke(CART, "ada", forward(refused, sender=(INVENTORY, "socks")))
    assert "cart" not in {m.state_name for m in after.state_mutations}
    assert [d.is_cancellation_request for d in after.delayed_invocations] == [True]


def test_checkout_writes_the_receipt_to_kafka_and_empties_the_cart(driver: Driver) -> None:
    driver.invoke(INVENTORY, "hat", pb.Restock(quantity=1))
    added = driver.invoke(CART, "ada", pb.AddToCart(user_id="ada", item_id="hat", quantity=1))
    reply = driver.invoke(INVENTORY, "hat", forward(added, sender=(CART, "ada")))
    driver.invoke(CART, "ada", forward(reply, sender=(INVENTORY, "hat")))

    done = driver.invoke(CART, "ada", pb.Checkout(user_id="ada"))

    [egress] = done.outgoing_egresses
    assert (egress.egress_namespace, egress.egress_type) == ("com.example.shop", "receipts")
    record = decode(egress.argument, KafkaProducerRecord)
    assert (record.topic, record.key) == ("receipts", "ada")
    assert pb.Receipt.FromString(record.value_bytes) == pb.Receipt(user_id="ada", items={"hat": 1})
    mutations = {m.state_name: m.mutation_type for m in done.state_mutations}
    assert mutations["cart"] == FromFunction.PersistedValueMutation.DELETE
    assert [d.is_cancellation_request for d in done.delayed_invocations] == [True]


def test_an_idle_cart_gives_its_items_back(driver: Driver) -> None:
    driver.invoke(INVENTORY, "hat", pb.Restock(quantity=1))
    added = driver.invoke(CART, "ada", pb.AddToCart(user_id="ada", item_id="hat", quantity=1))
    reply = driver.invoke(INVENTORY, "hat", forward(added, sender=(CART, "ada")))
    filled = driver.invoke(CART, "ada", forward(reply, sender=(INVENTORY, "hat")))
    timer = filled.delayed_invocations[1]

    # A delayed message arrives from the address that set it.
    fired = driver.invoke(CART, "ada", decode(timer.argument, TimerFired), caller=(CART, "ada"))

    [(target, target_id, argument)] = outgoing(fired)
    assert (target, target_id) == (INVENTORY, "hat")
    assert decode(argument, pb.Restock) == pb.Restock(quantity=1)


class AsyncInventory(InventoryFunction):
    async def reserve(self, ctx: InventoryContext, request: pb.Reserve) -> pb.Reserved:
        await asyncio.sleep(0)  # a real one would await a database or a service
        return super().reserve(ctx, request)


class AsyncCart(UserCartFunction):
    async def reserved(
        self,
        ctx: UserCartAddContext,
        outcome: InventoryReserveOutcome,
        request: pb.Reserve,
        carried: pb.AddToCart,
    ) -> None:
        await asyncio.sleep(0)
        super().reserved(ctx, outcome, request, carried)


def test_async_handlers_and_continuations_are_awaited() -> None:
    driver = Driver(ShopApp(inventory=AsyncInventory(), user_cart=AsyncCart()))
    driver.invoke(INVENTORY, "hat", pb.Restock(quantity=1))
    added = driver.invoke(CART, "ada", pb.AddToCart(user_id="ada", item_id="hat", quantity=1))
    reply = driver.invoke(INVENTORY, "hat", forward(added, sender=(CART, "ada")))
    assert decode(outgoing(reply)[0][2], pb.InventoryReserveReply).reply.remaining == 0

    filled = driver.invoke(CART, "ada", forward(reply, sender=(INVENTORY, "hat")))

    cart = {m.state_name: m for m in filled.state_mutations}["cart"]
    assert decode(cart.state_value, pb.Cart).items == {"hat": 1}


def test_the_readme_harness_example() -> None:
    with Harness(app) as h:
        h.ingest("restocks", "socks", pb.Restock(quantity=3))
        h.ingest("add_to_cart", "ada", pb.AddToCart(user_id="ada", item_id="socks", quantity=1))
        h.run_until_quiet()
        assert h.state("com.example.shop/inventory", "socks", "stock") == 2
        h.advance(timedelta(minutes=30))  # the idle cart's timer fires: the sock goes back
        assert h.state("com.example.shop/inventory", "socks", "stock") == 3


class InterleavingCart(UserCartFunction):
    """The cart as it would be without `exclusive`."""

    sfidl_spec = dataclasses.replace(UserCartFunction.sfidl_spec, exclusive=False)


@pytest.mark.parametrize("exclusive", [True, False])
def test_a_checkout_waits_for_the_reservation_pending_before_it(exclusive: bool) -> None:
    # The cart is exclusive: the checkout, queued right behind the add, is held while the
    # reserve call is pending and handled after its continuation filled the cart. Without
    # `exclusive` it runs in between, and the receipt misses the sock the user paid for.
    cart = UserCartFunction() if exclusive else InterleavingCart()
    with Harness(ShopApp(inventory=InventoryFunction(), user_cart=cart)) as h:
        h.ingest("restocks", "socks", pb.Restock(quantity=3))
        h.run_until_quiet()
        h.ingest("add_to_cart", "ada", pb.AddToCart(user_id="ada", item_id="socks", quantity=1))
        h.ingest("checkouts", "ada", pb.Checkout(user_id="ada"))
        h.run_until_quiet()

        [receipt] = h.egress("receipts")
        items = {"socks": 1} if exclusive else {}
        assert receipt.value == pb.Receipt(user_id="ada", items=items)
        assert h.state(INVENTORY, "socks", "stock") == 2


def test_playground_records_use_the_proto_field_names_like_the_local_runtime() -> None:
    playground = ShopApp(
        inventory=InventoryFunction(), user_cart=UserCartFunction(), playground=True
    )
    done = Driver(playground).invoke(CART, "ada", pb.Checkout(user_id="ada"))
    record = json.loads(done.outgoing_egresses[0].argument.value)
    assert json.loads(record["payload"]) == {"user_id": "ada"}
