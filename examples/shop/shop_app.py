"""The shop: user carts reserve stock from per-item inventories; checkout writes a receipt.

Run it locally:      sfidl run examples/shop/shop.sfidl --app shop_app
Serve it to StateFun: python examples/shop/shop_app.py  (with gen/ on PYTHONPATH)
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import assert_never

import shop_pb2 as pb
from shop_sfidl import (
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
    UserCartExpireContext,
)

log = logging.getLogger(__name__)

# A cart untouched this long gives its items back to the inventories.
IDLE_CART = timedelta(minutes=30)


class InventoryFunction(Inventory):
    def reserve(self, ctx: InventoryContext, request: pb.Reserve) -> pb.Reserved | OutOfStockError:
        stock = ctx.state.stock
        if request.quantity > stock:
            return OutOfStockError(pb.OutOfStock(item_id=ctx.id, available=stock))
        ctx.state.stock = stock - request.quantity
        return pb.Reserved(remaining=ctx.state.stock)

    def restock(self, ctx: InventoryContext, message: pb.Restock) -> None:
        ctx.state.stock += message.quantity


class UserCartFunction(UserCart):
    def add(self, ctx: UserCartAddContext, message: pb.AddToCart) -> None:
        inventory = ctx.functions.inventory(message.item_id)
        inventory.reserve(pb.Reserve(quantity=message.quantity), carry=message)

    def reserved(
        self,
        ctx: UserCartAddContext,
        outcome: InventoryReserveOutcome,
        request: pb.Reserve,
        carried: pb.AddToCart,
    ) -> None:
        match outcome:
            case pb.Reserved():
                ctx.state.cart.items[carried.item_id] += request.quantity
                self._restart_idle_timer(ctx)
            case OutOfStockError():
                log.info("%s: only %d left", carried.item_id, outcome.detail.available)
            case Timeout():
                log.warning(
                    "%s: the inventory did not answer in %s", carried.item_id, outcome.after
                )
            case _:
                assert_never(outcome)

    def checkout(self, ctx: UserCartCheckoutContext, message: pb.Checkout) -> None:
        ctx.egress.receipts.write(pb.Receipt(user_id=ctx.id, items=ctx.state.cart.items))
        self._stop_idle_timer(ctx)
        del ctx.state.cart

    def expire(self, ctx: UserCartExpireContext, message: pb.ExpireCart) -> None:
        for item_id, quantity in sorted(ctx.state.cart.items.items()):
            ctx.functions.inventory(item_id).restock(pb.Restock(quantity=quantity))
        del ctx.state.cart
        del ctx.state.expiry

    def _restart_idle_timer(self, ctx: UserCartAddContext) -> None:
        self._stop_idle_timer(ctx)
        ctx.state.expiry = ctx.timers.expire.after(IDLE_CART, pb.ExpireCart())

    def _stop_idle_timer(self, ctx: UserCartAddContext | UserCartCheckoutContext) -> None:
        if ctx.state.expiry:
            ctx.timers.expire.cancel(TimerId(ctx.state.expiry))
            del ctx.state.expiry


app = ShopApp(inventory=InventoryFunction(), user_cart=UserCartFunction())

if __name__ == "__main__":
    app.serve(port=8000)
