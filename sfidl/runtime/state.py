"""Typed state: the descriptors generated state classes are made of.

A generated ``UserCartState`` declares one attribute per IDL state::

    class UserCartState(sfidl.runtime.State):
        cart = sfidl.runtime.MessageState(shop_pb2.Cart, expire_after_write=timedelta(hours=1))
        visits = sfidl.runtime.ScalarState(sfidl.runtime.INT32, 0)

Reading gives the value, or the default when the state is absent or expired; assigning
stores it; ``del`` clears it back to the default.

A state whose type changed says what it was (``state cart: CartV2 migrate from Cart;``,
generated as ``MessageState(shop_pb2.CartV2, migrate_from=shop_pb2.Cart)``). StateFun
keeps the typename a state name was first registered with and fails the job when it is
declared or written with another, so the state name keeps its old type: it is still
declared, and holds what the previous version wrote. The value of the new type lives under
a name of its own, :func:`migrated_name` (``sfidl_cart_as_shop_cartv2``; ``sfidl`` names
are reserved in the IDL). The first read in an instance that has an old value and no new
one calls the function implementation's ``migrate_<state>(old)``, writes the result under
the new name and deletes the old value, in the response of that same invocation.
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


def upgrade_method(name: str) -> str:
    """The method of a function implementation that upgrades state ``name``'s old values.

    (The compiler names it the same way: sfidl.check.states.upgrade_method.)
    """
    return f"migrate_{name}"


def migrated_name(name: str, statefun_type: Any) -> str:
    """The state name a migrated state's values of ``statefun_type`` are stored under.

    Derived from the new type, so that the name is only ever registered with one typename:
    ``cart`` of ``type.googleapis.com/shop.CartV2`` is ``sfidl_cart_as_shop_cartv2``.
    """
    local = str(statefun_type.typename).rpartition("/")[2]
    return f"sfidl_{name}_as_" + "".join(c if c.isalnum() else "_" for c in local.lower())


class StateField(Generic[T]):
    """One declared state; subclasses say how its values are read and written.

    ``name`` is the declared name; ``stored_as`` the state name its values are stored
    under: the declared name, or :func:`migrated_name` for a state with ``migrate_from``
    (the SDK ``Type`` of its previous version, whose values stay under the declared name).
    """

    name: str
    stored_as: str

    def __init__(
        self,
        statefun_type: Any,
        *,
        expire_after_write: timedelta | None = None,
        expire_after_call: timedelta | None = None,
        previous_type: Any = None,
    ) -> None:
        # previous_type: a message class or an SDK scalar type (``migrate from`` either).
        self.statefun_type = statefun_type
        self.expire_after_write = expire_after_write
        self.expire_after_call = expire_after_call
        if isinstance(previous_type, type) and issubclass(previous_type, Message):
            previous_type = protobuf_type(previous_type)
        self.previous_type = previous_type

    def __set_name__(self, owner: type[State], name: str) -> None:
        self.name = name
        migrates = self.previous_type is not None
        self.stored_as = migrated_name(name, self.statefun_type) if migrates else name

    def value_spec(self) -> Any:
        """The SDK ``ValueSpec`` declaring this state (its current type) to the runtime."""
        return self._spec(self.stored_as, self.statefun_type)

    def previous_spec(self) -> Any:
        """The ``ValueSpec`` of the values of the previous version (None without a migration).

        The declared name with its old type, as the previous version registered it; with
        this version's expiry (``sfidl breaking`` flags an expiry changed with the type).
        """
        if self.previous_type is None:
            return None
        return self._spec(self.name, self.previous_type)

    def _spec(self, name: str, statefun_type: Any) -> Any:
        for expiry in (self.expire_after_write, self.expire_after_call):
            # The SDK truncates to whole ms: 0 ms with expiry on, a TTL Flink refuses.
            if expiry is not None and expiry < timedelta(milliseconds=1):
                raise ValueError(f"state {self.name!r} cannot expire after less than 1 ms")
        return statefun.ValueSpec(
            name=name,
            type=statefun_type,
            expire_after_write=self.expire_after_write,
            expire_after_call=self.expire_after_call,
        )

    def _read(self, invocation: Invocation) -> Any:
        """The stored value (None when absent), the previous version's upgraded if need be."""
        value = invocation.read(self.stored_as)
        if value is not None or self.previous_type is None:
            return value
        old = invocation.read(self.name)
        if old is None:
            return None
        upgrade = invocation.deployment.upgrades[invocation.spec.typename][self.name]
        new = self.accept(upgrade(old), f"{upgrade_method(self.name)} returned")
        invocation.write(self.stored_as, new)
        invocation.delete(self.name)
        return new

    def _write(self, invocation: Invocation, value: T) -> None:
        invocation.write(self.stored_as, value)
        if self.previous_type is not None and invocation.read(self.name) is not None:
            # Or a read after the new value expired or was deleted would upgrade it again.
            invocation.delete(self.name)

    def accept(self, value: Any, what: str) -> Any:
        """``value`` as this state stores it; TypeError if it holds no such values
        (``what`` comes before the value's type in the message: ``not``, ``... returned``)."""
        raise NotImplementedError

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
        invocation = obj._invocation
        if invocation.loaded:
            invocation.loaded.pop(self.stored_as, None)
        invocation.delete(self.stored_as)
        if self.previous_type is not None:
            invocation.delete(self.name)

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
        migrate_from: Any = None,
    ) -> None:
        super().__init__(
            statefun_type,
            expire_after_write=expire_after_write,
            expire_after_call=expire_after_call,
            previous_type=migrate_from,
        )
        self.default: S = default
        # type(default), kept: compared with on every write.
        self._kind: type[S] = type(default)

    # __get__, __set__ and __delete__ themselves, not get and set: a call less on every
    # read and write.

    @overload
    def __get__(self, obj: None, owner: type[State]) -> Self: ...

    @overload
    def __get__(self, obj: State, owner: type[State]) -> S: ...

    def __get__(self, obj: State | None, owner: type[State]) -> Self | S:
        if obj is None:
            return self
        if self.previous_type is None:  # nothing to upgrade: the SDK's storage as is
            value = getattr(obj._invocation.sdk.storage, self.name)
        else:
            value = self._read(obj._invocation)
        return self.default if value is None else value

    def __set__(self, obj: State, value: S) -> None:
        if type(value) is not self._kind:  # else it is of the declared type as is
            value = self.accept(value, "not")
        if self.previous_type is None:
            setattr(obj._invocation.sdk.storage, self.name, value)
        else:
            self._write(obj._invocation, value)

    def __delete__(self, obj: State) -> None:
        if self.previous_type is None:  # and no scalar is among the messages loaded
            delattr(obj._invocation.sdk.storage, self.name)
        else:
            super().__delete__(obj)

    def accept(self, value: Any, what: str) -> Any:
        kind = self._kind
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if kind is float and is_int:
            return float(value)  # an int is a float to mypy too
        if not (is_int if kind is int else isinstance(value, kind)):
            raise TypeError(
                f"state {self.name!r} holds {kind.__name__} values, {what} {type(value).__name__}"
            )
        return value


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
        migrate_from: Any = None,
    ) -> None:
        super().__init__(
            protobuf_type(message_type),
            expire_after_write=expire_after_write,
            expire_after_call=expire_after_call,
            previous_type=migrate_from,
        )
        self.message_type = message_type

    def get(self, invocation: Invocation) -> M:
        loaded = _loaded(invocation)
        value_read = loaded.get(self.stored_as)
        if value_read is not None:
            return value_read[0]  # type: ignore[return-value]
        stored = self._read(invocation)
        value = stored if stored is not None else self.message_type()
        loaded[self.stored_as] = (value, encode(value) if stored is not None else b"")
        return value

    def set(self, invocation: Invocation, value: M) -> None:
        self._write(invocation, self.accept(value, "not"))
        _loaded(invocation)[self.stored_as] = (value, encode(value))

    def accept(self, value: Any, what: str) -> Any:
        if not isinstance(value, self.message_type):
            raise TypeError(
                f"state {self.name!r} holds {self.message_type.DESCRIPTOR.full_name} messages, "
                f"{what} {type(value).__name__}"
            )
        return value


def _loaded(invocation: Invocation) -> dict[str, tuple[Message, bytes]]:
    """The message states ``invocation`` read or wrote (:attr:`Invocation.loaded`), made
    at the first (most invocations have none)."""
    loaded = invocation.loaded
    if loaded is None:
        loaded = invocation.loaded = {}
    return loaded
