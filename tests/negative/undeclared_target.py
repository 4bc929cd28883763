"""Sending to a function or handler the caller did not declare in its effects."""

from __future__ import annotations

import shop_pb2 as pb
from shop_sfidl import InventoryContext, UserCartContext


def restock(ctx: InventoryContext, message: pb.Restock) -> None:
    # Inventory declares no calls or sends at all: its context has no `functions`.
    ctx.functions.user_cart("u1")  # E: "InventoryContext" has no attribute "functions"


def add(ctx: UserCartContext, message: pb.AddToCart) -> None:
    ctx.functions.user_cart(message.user_id)  # E: "UserCartFunctions" has no attribute "user_cart"
    # Inventory has no handler `add`; UserCart may only reserve and restock.
    inventory = ctx.functions.inventory(message.item_id)
    inventory.add(message)  # E: "UserCartToInventory" has no attribute "add"
