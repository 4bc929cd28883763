"""An rpc returns or raises its declared errors; a caller matches each one, exhaustively."""

from typing import assert_never

import errors_pb2 as pb
from errors_sfidl import (
    Account,
    AccountContext,
    AccountWithdrawOutcome,
    Atm,
    AtmWithdrawContext,
    ErrorsApp,
    FrozenError,
    InsufficientError,
    Timeout,
)


class AccountImpl(Account):
    def withdraw(
        self, ctx: AccountContext, request: pb.Withdraw
    ) -> pb.Balance | InsufficientError | FrozenError:
        if request.amount < 0:
            raise FrozenError(pb.Frozen(reason="negative amount"))
        if request.amount > ctx.state.balance:
            return InsufficientError(pb.Insufficient(missing=request.amount - ctx.state.balance))
        ctx.state.balance -= request.amount
        return pb.Balance(amount=ctx.state.balance)

    def peek(self, ctx: AccountContext, request: pb.Withdraw) -> pb.Balance | FrozenError:
        if request.amount > ctx.state.balance:
            raise FrozenError(pb.Frozen(reason="overdrawn"))
        return pb.Balance(amount=ctx.state.balance)


class AtmImpl(Atm):
    def withdraw(self, ctx: AtmWithdrawContext, message: pb.Withdraw) -> None:
        ctx.functions.account("ada").withdraw(message)

    def withdrawn(
        self, ctx: AtmWithdrawContext, outcome: AccountWithdrawOutcome, request: pb.Withdraw
    ) -> None:
        match outcome:
            case pb.Balance():
                assert outcome.amount >= 0
            case InsufficientError():
                missing: int = outcome.detail.missing
                assert missing > 0
            case FrozenError():
                reason: str = outcome.detail.reason
                assert reason
            case Timeout():
                pass
            case _:
                assert_never(outcome)


app = ErrorsApp(account=AccountImpl(), atm=AtmImpl())
