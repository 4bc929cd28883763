"""A oneof's name, a field's name and a member's type are checked."""

import oneof_pb2 as pb


def pay(request: pb.Pay) -> None:
    request.WhichOneof("result")  # E: [arg-type]
    request.HasField("cash")  # E: [arg-type]
    pb.Paid(amount="ten")  # E: [arg-type]
