"""A continuation must tell the reply from the declared errors and the timeout."""

from __future__ import annotations

from typing import assert_never

import shop_pb2 as pb
from shop_sfidl import InventoryReserveOutcome, OutOfStockError


def reserved(outcome: InventoryReserveOutcome) -> int:
    return outcome.remaining  # E: Item "OutOfStockError" of # E: Item "Timeout" of


def forgets_the_timeout(outcome: InventoryReserveOutcome) -> int:
    match outcome:
        case pb.Reserved():
            return outcome.remaining
        case OutOfStockError():
            return outcome.detail.available
        case _:
            assert_never(outcome)  # E: "assert_never" has incompatible type "Timeout"


def wrong_error_detail(outcome: OutOfStockError) -> str:
    return outcome.detail.available  # E: return value type (got "int", expected "str")
