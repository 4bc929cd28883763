"""The two versions being compared, indexed the way the rules look things up."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from sfidl.diagnostics import Span
from sfidl.model import EnumType, Function, MessageType, Program, TypeKind, TypeRef

_NAMESPACE = re.compile(r"^\s*(namespace)\b", re.M)


def _messages(messages: tuple[MessageType, ...]) -> Iterator[MessageType]:
    for message in messages:
        yield message
        yield from _messages(message.messages)


def _enums(messages: tuple[MessageType, ...], enums: tuple[EnumType, ...]) -> Iterator[EnumType]:
    yield from enums
    for message in messages:
        yield from _enums(message.messages, message.enums)


def _shape(message: MessageType) -> tuple[tuple[int, str, str, str, str], ...]:
    """A message's fields: what a renamed message keeps (numbers, names, labels, types)."""
    return tuple(
        sorted(
            (f.number, f.name, f.label.value, f.type.name, f.map_key.name if f.map_key else "")
            for f in message.fields
        )
    )


@dataclass(frozen=True)
class Pair:
    """The old and the new program; ``new_sources`` to point at the new root file."""

    old: Program
    new: Program
    new_sources: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def old_messages(self) -> dict[str, MessageType]:
        return {m.full_name: m for f in self.old.files for m in _messages(f.messages)}

    @cached_property
    def new_messages(self) -> dict[str, MessageType]:
        return {m.full_name: m for f in self.new.files for m in _messages(f.messages)}

    @cached_property
    def old_enums(self) -> dict[str, EnumType]:
        return {e.full_name: e for f in self.old.files for e in _enums(f.messages, f.enums)}

    @cached_property
    def new_enums(self) -> dict[str, EnumType]:
        return {e.full_name: e for f in self.new.files for e in _enums(f.messages, f.enums)}

    def translate(self, old_name: str) -> str:
        """The full name an old type has in the new program when only the namespace changed."""
        old_package, new_package = self.old.namespace, self.new.namespace
        if old_package != new_package and old_name.startswith(old_package + "."):
            return new_package + old_name[len(old_package) :]
        return old_name

    @cached_property
    def renamed(self) -> dict[str, str]:
        """Old full name -> new full name of messages and enums that were renamed.

        A type is taken as renamed when its name is gone and exactly one new type (not in
        the old program) has the same fields: numbers, names, labels and types (for an
        enum: the same value numbers and names).
        """
        renamed: dict[str, str] = {}
        added = {n: m for n, m in self.new_messages.items() if not self._had(n, self.old_messages)}
        for name, message in self.old_messages.items():
            if self.translate(name) in self.new_messages:
                continue
            alike = [
                n
                for n, m in added.items()
                if _shape(m) == _shape(message) and m.origin == message.origin
            ]
            if len(alike) == 1:
                renamed[name] = alike[0]
        added_enums = {n: e for n, e in self.new_enums.items() if not self._had(n, self.old_enums)}
        for name, enum in self.old_enums.items():
            if self.translate(name) in self.new_enums:
                continue
            values = sorted((v.number, v.name) for v in enum.values)
            alike = [
                n
                for n, e in added_enums.items()
                if sorted((v.number, v.name) for v in e.values) == values
            ]
            if len(alike) == 1:
                renamed[name] = alike[0]
        return renamed

    def _had(self, new_name: str, old: Mapping[str, object]) -> bool:
        return any(self.translate(n) == new_name for n in old)

    def counterpart(self, old_name: str) -> str:
        """The name the old type ``old_name`` has in the new program (it may not exist)."""
        return self.renamed.get(old_name, self.translate(old_name))

    def same_type(self, old: TypeRef | None, new: TypeRef | None) -> bool:
        """Whether ``new`` is ``old``, renamed or moved to the new namespace at most."""
        if old is None or new is None:
            return old is new
        if old.kind is TypeKind.SCALAR or new.kind is TypeKind.SCALAR:
            return old.kind is new.kind and old.name == new.name
        return self.counterpart(old.name) == new.name

    @cached_property
    def old_functions(self) -> dict[str, Function]:
        return {f.name: f for f in self.old.functions}

    @cached_property
    def new_functions(self) -> dict[str, Function]:
        return {f.name: f for f in self.new.functions}

    def kept_functions(self) -> Iterator[tuple[Function, Function]]:
        """Functions in both versions, by name."""
        for name, old in self.old_functions.items():
            new = self.new_functions.get(name)
            if new is not None:
                yield old, new

    @cached_property
    def root_span(self) -> Span:
        """The new root file's `namespace`: where findings about removed declarations point."""
        path = self.new.root.path
        text = self.new_sources.get(path, "")
        match = _NAMESPACE.search(text)
        if match is None:
            return Span.point(path, 1, 1)
        line = text.count("\n", 0, match.start(1)) + 1
        column = match.start(1) - (text.rfind("\n", 0, match.start(1)) + 1) + 1
        return Span(path, line, column, line, column + len("namespace"))
