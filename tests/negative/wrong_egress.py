"""Writing the wrong message to an egress, or using an egress or timer that was not declared."""

from __future__ import annotations

from datetime import timedelta

import shop_pb2 as pb
from shop_sfidl import InventoryContext, UserCartContext


def checkout(ctx: UserCartContext, message: pb.Checkout) -> None:
    ctx.egress.receipts.write(pb.Cart())  # E: type "Cart"; expected "Receipt"
    # The dead-letter egress exists, but UserCart did not declare it emits to it.
    ctx.egress.dead_letters  # E: "UserCartEgress" has no attribute "dead_letters"
    ctx.timers.expire.after(timedelta(1), pb.Cart())  # E: type "Cart"; expected "ExpireCart"
    ctx.timers.expire.cancel("sfidl.timer.1")  # E: "cancel" of "Timer" has incompatible type "str"
    ctx.timers.refresh  # E: "UserCartTimers" has no attribute "refresh"


def restock(ctx: InventoryContext, message: pb.Restock) -> None:
    # Inventory declares no egress and no timer.
    ctx.egress  # E: "InventoryContext" has no attribute "egress"
    ctx.timers  # E: "InventoryContext" has no attribute "timers"
