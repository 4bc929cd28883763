"""Errors of request/reply handlers, and the outcome of a call that timed out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar, Generic, TypeVar

from google.protobuf import text_format
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)


class RpcError(Exception, Generic[M]):
    """Base of the generated exception classes, one per `error` type of the IDL.

    A request/reply handler raises one of its declared errors to answer the caller with
    it; the caller's continuation receives an instance of the same class. The error's
    fields are those of ``detail``, the error message.
    """

    detail_type: ClassVar[type[Message]]

    def __init__(self, detail: M) -> None:
        if not isinstance(detail, self.detail_type):
            raise TypeError(
                f"{type(self).__name__} carries a {self.detail_type.DESCRIPTOR.full_name}, "
                f"not a {type(detail).__name__}"
            )
        super().__init__(detail)
        self.detail: M = detail

    def __str__(self) -> str:
        fields = text_format.MessageToString(self.detail, as_one_line=True)
        return f"{self.detail_type.DESCRIPTOR.name}({fields})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, RpcError)
            and type(other) is type(self)
            and other.detail == self.detail
        )

    def __hash__(self) -> int:
        return hash((type(self), self.detail.SerializeToString(deterministic=True)))


@dataclass(frozen=True)
class Timeout:
    """The outcome of a call whose reply did not come within its timeout."""

    after: timedelta
