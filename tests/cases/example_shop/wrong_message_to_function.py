"""Sending a message the target handler does not take, or calling without what the IDL requires."""

from __future__ import annotations

import shop_pb2 as pb
from shop_sfidl import UserCartAddContext, UserCartExpireContext


def add(ctx: UserCartAddContext, message: pb.AddToCart) -> None:
    inventory = ctx.functions.inventory(message.item_id)
    inventory.reserve(pb.Restock(), carry=message)  # E: type "Restock"; expected "Reserve"
    inventory.reserve(pb.Reserve())  # E: Missing named argument "carry" for "reserve"
    inventory.reserve(pb.Reserve(), carry=pb.Checkout())  # E: Argument "carry" to "reserve"
    inventory.reserve(pb.Reserve(), carry=message, timeout=5)  # E: expected "timedelta | None"
    ctx.functions.inventory(42)  # E: "inventory" of "UserCartAddFunctions" has incompatible type "int"


def expire(ctx: UserCartExpireContext, message: pb.ExpireCart) -> None:
    ctx.functions.inventory("socks").restock(pb.Reserve())  # E: type "Reserve"; expected "Restock"
