"""Typed state: the descriptors generated state classes are made of.

A generated ``UserCartState`` declares one attribute per IDL state::

    class UserCartState(sfidl.runtime.State):
        cart = sfidl.runtime.MessageState(shop_pb2.Cart, expire_after_write=timedelta(hours=1))
        visits = sfidl.runtime.ScalarState(sfidl.runtime.INT32, 0)

Reading gives the value, or the default when the state is absent or expired; assigning
stores it; ``del`` clears it back to the default.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, overload

import statefun
from google.protobuf.message import Message

from sfidl.runtime.part import Part
from sfidl.runtime.types import encode, protobuf_type

if TYPE_CHECKING:
    from sfidl.runtime.invocation import Invocation

T = TypeVar("T")
M = TypeVar("M", bound=Message)
S = TypeVar("S", int, float, bool, str)


class State(Part):
    """Base of a generated state class: a typed view of one instance's state."""

    __slots__ = ()

    @classmethod
    def sfidl_states(cls) -> tuple[StateField[Any], ...]:
        """The declared states, in declaration order."""
        return tuple(v for v in vars(cls).values() if isinstance(v, StateField))


class StateField(Generic[T]):
    """One declared state; subclasses say how its values are read and written."""

    name: str

    def __init__(
        self,
        statefun_type: Any,
        *,
        expire_after_write: timedelta | None = None,
        expire_after_call: timedelta | None = None,
    ) -> None:
        self.statefun_type = statefun_type
        self.expire_after_write = expire_after_write
        self.expire_after_call = expire_after_call

    def __set_name__(self, owner: type[State], name: str) -> None:
        self.name = name

    def value_spec(self) -> Any:
        """The SDK ``ValueSpec`` declaring this state to the runtime."""
        for expiry in (self.expire_after_write, self.expire_after_call):
            # The SDK truncates to whole ms: 0 ms with expiry on, a TTL Flink refuses.
            if expiry is not None and expiry < timedelta(milliseconds=1):
                raise ValueError(f"state {self.name!r} cannot expire after less than 1 ms")
        return statefun.ValueSpec(
            name=self.name,
            type=self.statefun_type,
            expire_after_write=self.expire_after_write,
            expire_after_call=self.expire_after_call,
        )

    @overload
    def __get__(self, obj: None, owner: type[State]) -> Self: ...

    @overload
    def __get__(self, obj: State, owner: type[State]) -> T: ...

    def __get__(self, obj: State | None, owner: type[State]) -> Self | T:
        if obj is None:
            return self
        return self.get(obj._invocation)

    def __set__(self, obj: State, value: T) -> None:
        self.set(obj._invocation, value)

    def __delete__(self, obj: State) -> None:
        obj._invocation.loaded.pop(self.name, None)
        obj._invocation.delete(self.name)

    def get(self, invocation: Invocation) -> T:
        raise NotImplementedError

    def set(self, invocation: Invocation, value: T) -> None:
        raise NotImplementedError


class ScalarState(StateField[S]):
    """A state of one of the SDK's scalar types (int32, int64, bool, float, double, string)."""

    def __init__(
        self,
        statefun_type: Any,
        default: S,
        *,
        expire_after_write: timedelta | None = None,
        expire_after_call: timedelta | None = None,
    ) -> None:
        super().__init__(
            statefun_type,
            expire_after_write=expire_after_write,
            expire_after_call=expire_after_call,
        )
        self.default: S = default

    def get(self, invocation: Invocation) -> S:
        value = invocation.read(self.name)
        return self.default if value is None else value

    def set(self, invocation: Invocation, value: S) -> None:
        kind = type(self.default)
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if kind is float and is_int:
            value = float(value)  # type: ignore[assignment]  # mypy lets an int be a float
        elif not (is_int if kind is int else isinstance(value, kind)):
            raise TypeError(
                f"state {self.name!r} holds {kind.__name__} values, not {type(value).__name__}"
            )
        invocation.write(self.name, value)


class MessageState(StateField[M]):
    """A state holding a protobuf message; its default is the empty message.

    Changes made in place (``ctx.state.cart.items["x"] = 1``) are written back when the
    handler returns.
    """

    def __init__(
        self,
        message_type: type[M],
        *,
        expire_after_write: timedelta | None = None,
        expire_after_call: timedelta | None = None,
    ) -> None:
        super().__init__(
            protobuf_type(message_type),
            expire_after_write=expire_after_write,
            expire_after_call=expire_after_call,
        )
        self.message_type = message_type

    def get(self, invocation: Invocation) -> M:
        loaded = invocation.loaded.get(self.name)
        if loaded is not None:
            return loaded[0]  # type: ignore[return-value]
        stored = invocation.read(self.name)
        value = stored if stored is not None else self.message_type()
        invocation.loaded[self.name] = (value, encode(value) if stored is not None else b"")
        return value

    def set(self, invocation: Invocation, value: M) -> None:
        if not isinstance(value, self.message_type):
            raise TypeError(
                f"state {self.name!r} holds {self.message_type.DESCRIPTOR.full_name} messages, "
                f"not {type(value).__name__}"
            )
        invocation.write(self.name, value)
        invocation.loaded[self.name] = (value, encode(value))
