"""Upgrade functions of the wrong type are type errors."""

import state_migration_pb2 as pb
import state_migration_sfidl as gen


class UserCart(gen.UserCart):
    def add(self, ctx: gen.UserCartAddContext, message: pb.Add) -> None:
        pass

    def migrate_cart(self, old: pb.CartV2) -> pb.CartV2:  # E: Argument 1 of "migrate_cart" is incompatible with supertype
        return old

    def migrate_adds(self, old: int) -> str:  # E: Return type "str" of "migrate_adds" incompatible with return type "int"
        return str(old)


class Forgot(gen.UserCart):
    def add(self, ctx: gen.UserCartAddContext, message: pb.Add) -> None:
        pass

    def migrate_cart(self, old: pb.Cart) -> pb.CartV2:
        return pb.CartV2(quantities={item: 1 for item in old.items})


gen.StateMigrationApp(user_cart=Forgot())  # E: Cannot instantiate abstract class "Forgot" with abstract attribute "migrate_adds"
