"""Writing the wrong message to an egress, or using an egress or timer that was not declared."""

from __future__ import annotations

from datetime import timedelta

import shop_pb2 as pb
from shop_sfidl import InventoryContext, UserCartAddContext, UserCartCheckoutContext, UserCartExpireContext


def checkout(ctx: UserCartCheckoutContext, message: pb.Checkout) -> None:
    ctx.egress.receipts.write(pb.Cart())  # E: type "Cart"; expected "Receipt"
    # The dead-letter egress exists, but UserCart did not declare it emits to it.
    ctx.egress.dead_letters  # E: "UserCartCheckoutEgress" has no attribute "dead_letters"
    ctx.timers.expire.after(timedelta(1), pb.Cart())  # E: type "Cart"; expected "ExpireCart"
    ctx.timers.expire.cancel("sfidl.timer.1")  # E: "cancel" of "Timer" has incompatible type "str"
    ctx.timers.refresh  # E: "UserCartCheckoutTimers" has no attribute "refresh"


def add(ctx: UserCartAddContext, message: pb.AddToCart) -> None:
    # `checkout` emits receipts; `add` declared no egress.
    ctx.egress  # E: "UserCartAddContext" has no attribute "egress"


def expire(ctx: UserCartExpireContext, message: pb.ExpireCart) -> None:
    # The timer itself did not declare `sets expire`: it cannot re-arm itself.
    ctx.timers  # E: "UserCartExpireContext" has no attribute "timers"


def restock(ctx: InventoryContext, message: pb.Restock) -> None:
    # Inventory declares no egress and no timer.
    ctx.egress  # E: "InventoryContext" has no attribute "egress"
    ctx.timers  # E: "InventoryContext" has no attribute "timers"
