"""The messages' stubs under mypy --strict: every kind of field reads and writes with its type."""

from fixture_common_pb2 import REGION_EU, Money, Region
from fixture_shop_pb2 import InventoryReserveReply, Line, OutOfStock, Reserved, Scalars


def total(line: Line) -> int:
    return line.quantity + sum(line.counts.values())


reply = InventoryReserveReply(correlation_id="c", reply=Reserved(remaining=3))
outcome: str | None = reply.WhichOneof("outcome")
line = Line(item_id="x", tags=["a"], counts={"a": 1}, kind=Line.KIND_GIFT, regions=[REGION_EU])
line.prices["eur"].units = 3
price: Money = line.price
deeper: Line.Nested.Deeper = line.deeper.add(kind=Line.Kind.KIND_GIFT)
region: Region.ValueType = line.regions[0]
stamp = line.at.ToDatetime()
raw: bytes = Scalars(bytes_value=b"x").SerializeToString()
error = OutOfStock(item_id="x", available=0)
