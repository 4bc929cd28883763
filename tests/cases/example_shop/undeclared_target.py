"""Sending to a function or handler the caller did not declare in its effects."""

from __future__ import annotations

import shop_pb2 as pb
from shop_sfidl import InventoryContext, UserCartAddContext, UserCartCheckoutContext


def restock(ctx: InventoryContext, message: pb.Restock) -> None:
    # Inventory declares no calls or sends at all: its context has no `functions`.
    ctx.functions.user_cart("u1")  # E: "InventoryContext" has no attribute "functions"


def add(ctx: UserCartAddContext, message: pb.AddToCart) -> None:
    ctx.functions.user_cart(message.user_id)  # E: "UserCartAddFunctions" has no attribute "user_cart"
    # Inventory has no handler `add`; `add` may only reserve (restock is the timer's).
    inventory = ctx.functions.inventory(message.item_id)
    inventory.add(message)  # E: "UserCartAddToInventory" has no attribute "add"
    inventory.restock(pb.Restock())  # E: "UserCartAddToInventory" has no attribute "restock"


def checkout(ctx: UserCartCheckoutContext, message: pb.Checkout) -> None:
    # UserCart calls and sends to Inventory, but `checkout` declared neither.
    ctx.functions  # E: "UserCartCheckoutContext" has no attribute "functions"
