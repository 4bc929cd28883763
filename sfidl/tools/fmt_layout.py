"""The canonical layout of a .sfidl file: where lines break and how far they are indented.

The layout walks lark's full parse tree (every token kept, punctuation included) and
pairs each token with the :class:`Gap` that goes before it; it never adds, drops or
reorders a token. Comments are not its concern: :mod:`sfidl.tools.fmt_print` puts them
into the gaps. The rules, taken from the examples' style:

- two spaces of indentation per level; one member, field or enum value per line;
- a blank line around every block declaration (message, error, enum, function) at the top
  level; elsewhere the author's blank lines are kept, at most one in a row, never right
  after ``{`` nor right before ``}``;
- an empty body is ``{}``;
- a handler or timer stays on one line when it fits in :data:`WIDTH` columns; otherwise
  each effect goes on a continuation line four columns deeper, and each call of a
  ``calls`` list on its own line, aligned after ``calls ``;
- one space between tokens except around ``.``, before ``; , : ) >``, after ``( <``,
  before ``<`` and before the ``(`` of a signature.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from lark import Token, Tree

WIDTH = 80

# Top-level declarations with a body: a blank line always separates them from the rest.
_BLOCKS = {"message_decl", "error_decl", "enum_decl", "function_decl"}
_EFFECTS = {"calls", "sends", "emits", "sets", "completes"}
_MEMBERS_WITH_EFFECTS = {"rpc_decl", "on_decl", "timer_decl"}
_TIGHT_BEFORE = {";", ",", ".", ")", ">", ":", "<"}
_TIGHT_AFTER = {"(", ".", "<"}
_CONTINUATION = 4
_CALLS_ALIGN = len("calls ")


@dataclass(frozen=True)
class Gap:
    """What separates a token from the one before it.

    ``kind`` "none" and "space" keep the token on the current line; "line" starts a new
    line at ``indent``. For a "line" gap, ``lead`` says whether a blank line comes right
    after the previous token ("always", "keep" it if the source had one, "never") and
    ``tail`` whether a source blank line right before the token is kept. Comments found in
    the gap are indented to ``comment_indent`` (default ``indent``): the comments closing a
    body sit at the body's depth, not at its ``}``'s.
    """

    kind: Literal["none", "space", "line"]
    indent: int = 0
    lead: Literal["never", "keep", "always"] = "never"
    tail: bool = False
    comment_indent: int | None = None

    @property
    def indent_of_comments(self) -> int:
        """How deep the comments on lines of their own in this gap go."""
        return self.indent if self.comment_indent is None else self.comment_indent


NONE = Gap("none")
SPACE = Gap("space")


def _line(
    indent: int,
    lead: Literal["never", "keep", "always"],
    tail: bool,
    comment_indent: int | None = None,
) -> Gap:
    return Gap("line", indent, lead, tail, comment_indent)


def tokens_of(node: Tree[Token] | Token) -> Iterator[Token]:
    """Every token under ``node``, in source order."""
    if isinstance(node, Token):
        yield node
        return
    for child in node.children:
        yield from tokens_of(child)


def inline_gap(previous: Token | None, token: Token) -> Gap:
    """The gap between two tokens on one line."""
    if previous is None:
        return SPACE
    if token in _TIGHT_BEFORE or previous in _TIGHT_AFTER:
        return NONE
    if token == "(" and previous.type == "NAME":
        return NONE
    return SPACE


def one_line(node: Tree[Token] | Token) -> str:
    """``node`` written on one line with the inline spacing."""
    out: list[str] = []
    previous: Token | None = None
    for token in tokens_of(node):
        if previous is not None and inline_gap(previous, token) is SPACE:
            out.append(" ")
        out.append(str(token))
        previous = token
    return "".join(out)


class Layout:
    """Builds the (gap, token) sequence of one file, given the sorted offsets of its
    comments: a body holding a comment is never ``{}``, a member holding one is never
    squeezed onto one line."""

    def __init__(self, comment_starts: list[int]) -> None:
        self.items: list[tuple[Gap, Token]] = []
        self._comments = comment_starts
        self._pending: Gap | None = None

    def file(self, tree: Tree[Token]) -> list[tuple[Gap, Token]]:
        """Every token of the file (lark's tree kept with all tokens), each with its gap."""
        namespace, *items = tree.children
        self._gap(_line(0, "never", True))
        self._inline(namespace)
        previous_block = True  # a blank line after `namespace`
        for item in items:
            assert isinstance(item, Tree)
            block = item.data in _BLOCKS
            self._gap(_line(0, "always" if block or previous_block else "keep", True))
            self._declaration(item, 0)
            previous_block = block
        return self.items

    # -- emitting

    def _gap(self, gap: Gap) -> None:
        self._pending = gap

    def _token(self, token: Token) -> None:
        previous = self.items[-1][1] if self.items else None
        gap = self._pending if self._pending is not None else inline_gap(previous, token)
        self._pending = None
        self.items.append((gap, token))

    def _inline(self, node: Tree[Token] | Token) -> None:
        for token in tokens_of(node):
            self._token(token)

    def _has_comment(self, start: int, end: int) -> bool:
        first = bisect.bisect_left(self._comments, start)
        return first < len(self._comments) and self._comments[first] < end

    # -- declarations

    def _declaration(self, node: Tree[Token], indent: int) -> None:
        if node.data in ("message_decl", "error_decl"):
            keyword, name, body = node.children
            assert isinstance(body, Tree)
            self._inline(keyword)
            self._inline(name)
            self._body(body.children, indent, self._message_member)
        elif node.data in ("enum_decl", "oneof_decl"):
            keyword, name, *braced = node.children
            self._inline(keyword)
            self._inline(name)
            self._body(braced, indent, self._inline_member)
        elif node.data == "function_decl":
            opening = next(i for i, c in enumerate(node.children) if c == "{")
            for child in node.children[:opening]:
                self._inline(child)
            self._body(node.children[opening:], indent, self._function_member)
        else:
            self._inline(node)

    def _body(
        self,
        children: list[Tree[Token] | Token],
        indent: int,
        member: Callable[[Tree[Token] | Token, int], None],
    ) -> None:
        """``{`` members ``}``: one member per line, one level deeper."""
        opening, *members, closing = children
        assert isinstance(opening, Token) and isinstance(closing, Token)
        self._token(opening)
        if not members and not self._has_comment(opening.end_pos or 0, closing.start_pos or 0):
            self._gap(NONE)
            self._token(closing)
            return
        for i, node in enumerate(members):
            self._gap(_line(indent + 2, "never" if i == 0 else "keep", True))
            member(node, indent + 2)
        self._gap(_line(indent, "keep", False, comment_indent=indent + 2))
        self._token(closing)

    def _message_member(self, node: Tree[Token] | Token, indent: int) -> None:
        if isinstance(node, Tree) and node.data in ("message_decl", "enum_decl", "oneof_decl"):
            self._declaration(node, indent)
        else:
            self._inline(node)

    def _inline_member(self, node: Tree[Token] | Token, indent: int) -> None:
        self._inline(node)

    def _function_member(self, node: Tree[Token] | Token, indent: int) -> None:
        if not isinstance(node, Tree) or node.data not in _MEMBERS_WITH_EFFECTS:
            self._inline(node)
            return
        children = node.children
        effects = [c for c in children if isinstance(c, Tree) and c.data in _EFFECTS]
        start, end = node.meta.start_pos, node.meta.end_pos
        if not effects or (
            indent + len(one_line(node)) <= WIDTH and not self._has_comment(start, end)
        ):
            self._inline(node)
            return
        head = children[: children.index(effects[0])]
        semicolon = children[-1]
        for child in head:
            self._inline(child)
        for effect in effects:
            self._gap(_line(indent + _CONTINUATION, "never", False))
            self._effect(effect, indent + _CONTINUATION)
        self._inline(semicolon)

    def _effect(self, effect: Tree[Token], indent: int) -> None:
        """One effect on its own line; the calls of a ``calls`` list one per line."""
        if effect.data != "calls":
            self._inline(effect)
            return
        keyword, *rest = effect.children
        self._inline(keyword)
        after_comma = False
        for child in rest:
            if after_comma:
                self._gap(_line(indent + _CALLS_ALIGN, "never", False))
            self._inline(child)
            after_comma = child == ","
