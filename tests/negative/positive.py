"""Uses the shop's generated stubs the way the language reference says: mypy --strict passes."""

from __future__ import annotations

from datetime import timedelta
from typing import assert_never

import shop_pb2 as pb
from shop_sfidl import (
    MANIFEST,
    CallId,
    Inventory,
    InventoryContext,
    InventoryReserveOutcome,
    OutOfStockError,
    ShopApp,
    Timeout,
    TimerId,
    UserCart,
    UserCartContext,
)


class InventoryImpl(Inventory):
    def reserve(self, ctx: InventoryContext, request: pb.Reserve) -> pb.Reserved:
        stock: int = ctx.state.stock
        if request.quantity > stock:
            raise OutOfStockError(pb.OutOfStock(item_id=ctx.id, available=stock))
        ctx.state.stock = stock - request.quantity
        return pb.Reserved(remaining=ctx.state.stock)

    def restock(self, ctx: InventoryContext, message: pb.Restock) -> None:
        ctx.state.stock += message.quantity
        del ctx.state.stock


class UserCartImpl(UserCart):
    def add(self, ctx: UserCartContext, message: pb.AddToCart) -> None:
        inventory = ctx.functions.inventory(message.item_id)
        call: CallId = inventory.reserve(pb.Reserve(quantity=message.quantity), carry=message)
        inventory.reserve(pb.Reserve(), carry=message, timeout=timedelta(seconds=1))
        inventory.reserve(pb.Reserve(), carry=message, timeout=None)
        assert call

    def reserved(
        self,
        ctx: UserCartContext,
        outcome: InventoryReserveOutcome,
        request: pb.Reserve,
        carried: pb.AddToCart,
    ) -> None:
        match outcome:
            case pb.Reserved():
                remaining: int = outcome.remaining
                ctx.state.cart.items[carried.item_id] += request.quantity + remaining
            case OutOfStockError():
                available: int = outcome.detail.available
                assert available >= 0
            case Timeout():
                after: timedelta = outcome.after
                assert after
            case _:
                assert_never(outcome)

    def checkout(self, ctx: UserCartContext, message: pb.Checkout) -> None:
        ctx.egress.receipts.write(pb.Receipt(user_id=message.user_id, items=ctx.state.cart.items))
        ctx.egress.receipts.write(pb.Receipt(), key="k")
        ctx.state.cart = pb.Cart()
        del ctx.state.cart

    def expire(self, ctx: UserCartContext, message: pb.ExpireCart) -> None:
        for item_id, quantity in sorted(ctx.state.cart.items.items()):
            ctx.functions.inventory(item_id).restock(pb.Restock(quantity=quantity))
        timer: TimerId = ctx.timers.expire.after(timedelta(minutes=30), pb.ExpireCart())
        ctx.state.expiry = timer
        ctx.timers.expire.cancel(TimerId(ctx.state.expiry))


app = ShopApp(inventory=InventoryImpl(), user_cart=UserCartImpl())
playground = ShopApp(inventory=InventoryImpl(), user_cart=UserCartImpl(), playground=True)
endpoint: str | None = MANIFEST.endpoint


class AsyncInventoryImpl(Inventory):
    """Handlers may be coroutines: the runtime awaits them."""

    async def reserve(self, ctx: InventoryContext, request: pb.Reserve) -> pb.Reserved:
        return pb.Reserved(remaining=ctx.state.stock)

    async def restock(self, ctx: InventoryContext, message: pb.Restock) -> None:
        ctx.state.stock += message.quantity


async_app = ShopApp(inventory=AsyncInventoryImpl(), user_cart=UserCartImpl())
