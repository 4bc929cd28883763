"""A oneof reads back as the name of the member set (a literal type), or None."""

from typing import Literal

import oneof_pb2 as pb
from oneof_sfidl import OneofApp, Till, TillContext


class TillImpl(Till):
    def pay(self, ctx: TillContext, request: pb.Pay) -> pb.Paid:
        which: Literal["card", "voucher", "account"] | None = request.WhichOneof("method")
        if which == "voucher":
            return pb.Paid(amount=100 - request.voucher.percent)
        if request.HasField("card"):
            return pb.Paid(refused_because="cards are not taken")
        return pb.Paid(amount=0)


app = OneofApp(till=TillImpl())
