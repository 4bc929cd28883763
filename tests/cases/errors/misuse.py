"""An rpc cannot answer with an error it did not declare; a match must handle each one."""

from typing import assert_never

import errors_pb2 as pb
from errors_sfidl import AccountWithdrawOutcome, FrozenError, InsufficientError, Timeout


def peek(request: pb.Withdraw) -> pb.Balance | FrozenError:
    return InsufficientError(pb.Insufficient())  # E: [return-value]


def forgets_frozen(outcome: AccountWithdrawOutcome) -> None:
    match outcome:
        case pb.Balance() | InsufficientError() | Timeout():
            pass
        case _:
            assert_never(outcome)  # E: "FrozenError"; expected "Never"
