"""A function of the root namespace calls and sends to one of an imported namespace."""

from typing import assert_never

import common_pb2
import main_pb2 as pb
from main_sfidl import LedgerPostOutcome, MainApp, Orders, OrdersPlaceContext, Timeout


class OrdersImpl(Orders):
    def place(self, ctx: OrdersPlaceContext, message: pb.Order) -> None:
        ledger = ctx.functions.ledger(message.id)
        ledger.post(message.price, carry=message)
        ledger.audit(common_pb2.Money(currency="EUR", units=message.price.units))
        ctx.state.last = message.price
        currency: common_pb2.Currency.ValueType = message.accepted[0]
        assert currency == common_pb2.CURRENCY_EUR

    def posted(
        self,
        ctx: OrdersPlaceContext,
        outcome: LedgerPostOutcome,
        request: common_pb2.Money,
        carried: pb.Order,
    ) -> None:
        match outcome:
            case common_pb2.Posted():
                balance: int = outcome.balance
                assert balance >= 0 and carried.id
            case Timeout():
                pass
            case _:
                assert_never(outcome)


app = MainApp(orders=OrdersImpl())
