"""An outcome is a reply, a declared error or a Timeout: a match must handle every one."""

from typing import assert_never

from calls_sfidl import Timeout

import calls_pb2 as pb
import calls_sfidl as gen


def exhaustive(outcome: gen.StoreGetOutcome) -> int:
    match outcome:
        case pb.Answer():
            return outcome.value
        case gen.NotFoundError():
            return -1
        case Timeout():
            return -2
        case _:
            assert_never(outcome)


def forgets_the_timeout(outcome: gen.StoreGetOutcome) -> int:
    match outcome:
        case pb.Answer():
            return outcome.value
        case gen.NotFoundError():
            return -1
        case _:
            assert_never(outcome)  # E: "Timeout"; expected "Never"


def forgets_the_error(outcome: gen.OtherPeekOutcome) -> str:
    match outcome:
        case pb.Peeked():
            return outcome.text
        case Timeout():
            return ""
        case _:
            assert_never(outcome)  # E: "ForbiddenError"; expected "Never"


def unchecked(outcome: gen.StoreGetOutcome) -> int:
    return outcome.value  # E: [union-attr]
