"""An imported namespace's types are checked like the root's."""

import main_pb2 as pb
from main_sfidl import OrdersPlaceContext


def place(ctx: OrdersPlaceContext, message: pb.Order) -> None:
    ctx.functions.ledger(message.id).audit(message)  # E: type "Order"; expected "Money"
    ctx.state.last = pb.Order()  # E: [assignment]
