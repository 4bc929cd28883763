"""Errors of request/reply handlers, the outcome of a call that timed out, undeclared effects."""

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
        # A hand-written subclass has no detail_type: it is no declared error, and the
        # handler raising it must fail saying so, not with an AttributeError here.
        expected = getattr(type(self), "detail_type", None)
        if expected is not None and not isinstance(detail, expected):
            raise TypeError(
                f"{type(self).__name__} carries a {expected.DESCRIPTOR.full_name}, "
                f"not a {type(detail).__name__}"
            )
        super().__init__(detail)
        self.detail: M = detail

    def __str__(self) -> str:
        fields = text_format.MessageToString(self.detail, as_one_line=True)
        return f"{self.detail.DESCRIPTOR.name}({fields})"

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


class UndeclaredEffect(Exception):
    """A handler did what its IDL declaration does not allow: it fails the invocation.

    mypy rejects it in typed code (the handler's context has no such method); this is the
    same rule at run time, for untyped code. The message names the function, the member
    and the effect, for example
    ``com.example.shop/user_cart.checkout did not declare `sends com.example.shop/inventory.restock```.
    """
