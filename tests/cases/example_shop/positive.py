"""Uses the shop's generated stubs the way the language reference says: mypy --strict passes."""

from __future__ import annotations

from datetime import datetime, timedelta
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
    UserCartAddContext,
    UserCartCheckoutContext,
    UserCartContext,
    UserCartExpireContext,
)


class InventoryImpl(Inventory):
    def reserve(self, ctx: InventoryContext, request: pb.Reserve) -> pb.Reserved | OutOfStockError:
        stock: int = ctx.state.stock
        if request.quantity > stock:
            return OutOfStockError(pb.OutOfStock(item_id=ctx.id, available=stock))
        if request.quantity < 0:
            raise OutOfStockError(pb.OutOfStock(item_id=ctx.id))
        ctx.state.stock = stock - request.quantity
        return pb.Reserved(remaining=ctx.state.stock)

    def restock(self, ctx: InventoryContext, message: pb.Restock) -> None:
        ctx.state.stock += message.quantity
        del ctx.state.stock


class UserCartImpl(UserCart):
    def add(self, ctx: UserCartAddContext, message: pb.AddToCart) -> None:
        inventory = ctx.functions.inventory(message.item_id)
        call: CallId = inventory.reserve(pb.Reserve(quantity=message.quantity), carry=message)
        inventory.reserve(pb.Reserve(), carry=message, timeout=timedelta(seconds=1))
        inventory.reserve(pb.Reserve(), carry=message, timeout=None)
        assert call

    def reserved(
        self,
        ctx: UserCartAddContext,
        outcome: InventoryReserveOutcome,
        request: pb.Reserve,
        carried: pb.AddToCart,
    ) -> None:
        match outcome:
            case pb.Reserved():
                remaining: int = outcome.remaining
                ctx.state.cart.items[carried.item_id] += request.quantity + remaining
                ctx.state.expiry = ctx.timers.expire.after(timedelta(minutes=30), pb.ExpireCart())
            case OutOfStockError():
                available: int = outcome.detail.available
                assert available >= 0
            case Timeout():
                after: timedelta = outcome.after
                assert after
            case _:
                assert_never(outcome)

    def checkout(self, ctx: UserCartCheckoutContext, message: pb.Checkout) -> None:
        ctx.egress.receipts.write(pb.Receipt(user_id=message.user_id, items=ctx.state.cart.items))
        ctx.egress.receipts.write(pb.Receipt(), key="k")
        ctx.state.cart = pb.Cart()
        del ctx.state.cart
        self._stop(ctx)

    def expire(self, ctx: UserCartExpireContext, message: pb.ExpireCart) -> None:
        for item_id, quantity in sorted(ctx.state.cart.items.items()):
            ctx.functions.inventory(item_id).restock(pb.Restock(quantity=quantity))
        self._now(ctx)

    def _stop(self, ctx: UserCartAddContext | UserCartCheckoutContext) -> None:
        """A helper shared by members that both declared `sets expire`."""
        timer: TimerId = ctx.timers.expire.after(timedelta(minutes=30), pb.ExpireCart())
        ctx.timers.expire.cancel(timer)

    def _now(self, ctx: UserCartContext) -> None:
        """What every member sees: its id, state, and the time."""
        now: datetime = ctx.now
        assert now.tzinfo is not None and ctx.id


app = ShopApp(inventory=InventoryImpl(), user_cart=UserCartImpl())
playground = ShopApp(inventory=InventoryImpl(), user_cart=UserCartImpl(), playground=True)
endpoint: str | None = MANIFEST.endpoint


class AsyncInventoryImpl(Inventory):
    """Handlers may be coroutines: the runtime awaits them."""

    async def reserve(
        self, ctx: InventoryContext, request: pb.Reserve
    ) -> pb.Reserved | OutOfStockError:
        return pb.Reserved(remaining=ctx.state.stock)

    async def restock(self, ctx: InventoryContext, message: pb.Restock) -> None:
        ctx.state.stock += message.quantity


async_app = ShopApp(inventory=AsyncInventoryImpl(), user_cart=UserCartImpl())
