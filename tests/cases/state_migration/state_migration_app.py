"""Version 2 of the cart application: what a user writes, upgrade functions included.

Also the application tests/test_state_migration.py runs (in process and under `sfidl run`).
"""

from __future__ import annotations

from collections import Counter

import state_migration_pb2 as pb
from state_migration_sfidl import StateMigrationApp, UserCart, UserCartAddContext


class UserCartFunction(UserCart):
    def __init__(self) -> None:
        self.upgraded: list[str] = []  # what each upgrade was given, for the tests

    def add(self, ctx: UserCartAddContext, message: pb.Add) -> None:
        cart = ctx.state.cart
        cart.quantities[message.item] += message.quantity
        ctx.state.adds += 1
        summary = pb.Summary(quantities=cart.quantities, adds=ctx.state.adds)
        ctx.egress.summaries.write(summary)

    def migrate_cart(self, old: pb.Cart) -> pb.CartV2:
        self.upgraded.append(f"cart {list(old.items)}")
        return pb.CartV2(quantities=Counter(old.items))

    def migrate_adds(self, old: int) -> int:
        self.upgraded.append(f"adds {old}")
        return old


app = StateMigrationApp(user_cart=UserCartFunction())
