"""An application missing an implementation, or built from an incomplete one."""

from __future__ import annotations

import shop_pb2 as pb
from shop_sfidl import Inventory, InventoryContext, InventoryReserveOutcome, ShopApp, UserCart
from shop_sfidl import UserCartContext


class InventoryImpl(Inventory):
    def reserve(self, ctx: InventoryContext, request: pb.Reserve) -> pb.Reserved:
        return pb.Reserved()

    def restock(self, ctx: InventoryContext, message: pb.Restock) -> None:
        pass


class CartWithoutContinuation(UserCart):
    """Forgets `reserved`, the continuation of the call to Inventory.reserve."""

    def add(self, ctx: UserCartContext, message: pb.AddToCart) -> None:
        pass

    def checkout(self, ctx: UserCartContext, message: pb.Checkout) -> None:
        pass

    def expire(self, ctx: UserCartContext, message: pb.ExpireCart) -> None:
        pass


class CartImpl(CartWithoutContinuation):
    def reserved(
        self,
        ctx: UserCartContext,
        outcome: InventoryReserveOutcome,
        request: pb.Reserve,
        carried: pb.AddToCart,
    ) -> None:
        pass


ShopApp(inventory=InventoryImpl())  # E: Missing named argument "user_cart" for "ShopApp"
incomplete = CartWithoutContinuation()  # E: Cannot instantiate abstract class
ShopApp(inventory=CartImpl(), user_cart=CartImpl())  # E: type "CartImpl"; expected "Inventory"
ShopApp(InventoryImpl(), CartImpl())  # E: Too many positional arguments for "ShopApp"
