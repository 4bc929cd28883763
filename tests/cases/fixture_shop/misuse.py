"""Misuses of the messages' stubs that mypy --strict rejects."""

from fixture_shop_pb2 import InventoryReserveReply, Line


def misuse(reply: InventoryReserveReply) -> None:
    wrong: int = reply.correlation_id  # E: [assignment]
    Line(quantity="three")  # E: [arg-type]
    reply.WhichOneof("payment")  # E: [arg-type]
