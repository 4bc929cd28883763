"""Writing to an egress a member did not declare, or the wrong message to one."""

import kinesis_io_pb2 as pb
from kinesis_io_sfidl import CartAddContext, CartContext, ClicksRecordContext


def add(ctx: CartAddContext) -> None:
    ctx.egress.alerts.write(pb.Alert())  # E: "CartAddEgress" has no attribute "alerts"


def record(ctx: ClicksRecordContext) -> None:
    ctx.egress.alerts.write(pb.Receipt())  # E: type "Receipt"; expected "Alert"
    ctx.state.seen = "many"  # E: [assignment]


def unused(ctx: CartContext) -> None:
    ctx.egress  # E: "CartContext" has no attribute "egress"
