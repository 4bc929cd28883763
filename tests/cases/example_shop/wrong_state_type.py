"""Writing a value of the wrong type to a state, or using a state that was not declared."""

from __future__ import annotations

import shop_pb2 as pb
from shop_sfidl import InventoryContext, UserCartContext


def restock(ctx: InventoryContext, message: pb.Restock) -> None:
    ctx.state.stock = "x"  # E: (expression has type "str", variable has type "int")
    name: str = ctx.state.stock  # E: (expression has type "int", variable has type "str")
    ctx.state.reserved = 1  # E: "InventoryState" has no attribute "reserved"


def checkout(ctx: UserCartContext, message: pb.Checkout) -> None:
    ctx.state.cart = pb.Receipt()  # E: (expression has type "Receipt", variable has type "Cart")
    ctx.state.expiry = 3  # E: (expression has type "int", variable has type "str")
