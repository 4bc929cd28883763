"""Kinesis in and out: the record's partition key is the instance id unless given."""

import kinesis_io_pb2 as pb
from kinesis_io_sfidl import (
    Cart,
    CartAddContext,
    Clicks,
    ClicksRecordContext,
    KinesisIoApp,
)


class CartImpl(Cart):
    def add(self, ctx: CartAddContext, message: pb.AddToCart) -> None:
        ctx.egress.receipts.write(pb.Receipt(item_id=message.item_id))


class ClicksImpl(Clicks):
    def record(self, ctx: ClicksRecordContext, message: pb.Click) -> None:
        ctx.state.seen += 1
        ctx.egress.alerts.write(pb.Alert(page=message.page, clicks=ctx.state.seen))
        ctx.egress.alerts.write(pb.Alert(page=message.page), key=message.page)


app = KinesisIoApp(cart=CartImpl(), clicks=ClicksImpl())
