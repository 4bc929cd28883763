"""Implementations whose methods do not match what the IDL declared."""

from __future__ import annotations

import shop_pb2 as pb
from shop_sfidl import Inventory, InventoryContext, UserCartContext


class WrongMessage(Inventory):
    def reserve(self, ctx: InventoryContext, request: pb.Reserve) -> pb.Reserved:
        return pb.Reserved()

    def restock(self, ctx: InventoryContext, m: pb.Reserve) -> None:  # E: Argument 2 of "restock"
        pass


class WrongReply(Inventory):
    def reserve(self, ctx: InventoryContext, r: pb.Reserve) -> pb.Restock:  # E: Return type
        return pb.Restock()

    def restock(self, ctx: InventoryContext, message: pb.Restock) -> None:
        pass


class WrongContext(Inventory):
    def reserve(self, ctx: UserCartContext, r: pb.Reserve) -> pb.Reserved:  # E: Argument 1 of
        return pb.Reserved()

    def restock(self, ctx: InventoryContext, message: pb.Restock) -> None:
        pass


class WrongAsyncReply(Inventory):
    async def reserve(self, ctx: InventoryContext, r: pb.Reserve) -> pb.Restock:  # E: Return type
        return pb.Restock()

    async def restock(self, ctx: InventoryContext, message: pb.Restock) -> None:
        pass
