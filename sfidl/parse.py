"""Text -> AST: the lark LALR parser, `///` doc collection and parse errors in user words.

A file either parses completely or yields one parse error (LALR stops at the first
unexpected token); a few lexical problems found while building the tree (a bad escape
in a string) are reported alongside a complete tree.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sfidl import ast, lalr_driver
from sfidl.check import rules
from sfidl.diagnostics import Diagnostic, Span
from sfidl.resources import data_dir

if TYPE_CHECKING:  # lark is imported only where a parse leaves the fast path
    from lark import Lark, Token, Tree
    from lark.exceptions import UnexpectedInput, UnexpectedToken
    from lark.tree import Meta


@dataclass(frozen=True)
class ParseResult:
    """The tree (None after a parse error) and the diagnostics found while parsing."""

    file: ast.File | None
    diagnostics: tuple[Diagnostic, ...]


def parse(text: str, path: str) -> ParseResult:
    """Parse the text of the .sfidl file shown as ``path`` in diagnostics."""
    try:
        return _parse_fast(text, path)
    except lalr_driver.Unsure:  # lark parses: the same tree, or the error in its words
        pass
    from lark.exceptions import UnexpectedInput

    docs: list[Token] = []
    parser = _parser(docs)
    docs.clear()
    try:
        tree = parser.parse(text)
        builder = _Builder(path, _doc_blocks(text, docs))
        file = builder.build(tree)
    except UnexpectedInput as error:
        return ParseResult(None, (_parse_error(parser, error, text, path),))
    except RecursionError:
        # Hundreds of nested braces exhaust the tree walk long before any real schema.
        problem = Diagnostic(
            Span.point(path, 1, 1), "the file nests declarations too deeply", code=rules.TOO_DEEP
        )
        return ParseResult(None, (problem,))
    assert isinstance(file, ast.File)
    return ParseResult(file, tuple(builder.diagnostics))


def _parse_fast(text: str, path: str) -> ParseResult:
    """The AST lark's parse and the builder's tree walk would give, built in one pass over the
    text (sfidl.lalr_driver); raises ``Unsure`` where it cannot vouch for that."""
    tables = _tables()
    lexemes, docs = lalr_driver.lex(tables, text)
    builder = _Builder(path, _doc_blocks(text, docs))
    file = lalr_driver.parse(tables, text, lexemes, lambda name: getattr(builder, name))
    assert isinstance(file, ast.File)
    return ParseResult(file, tuple(builder.diagnostics))


# ---------------------------------------------------------------- the parser


@cache
def _grammar() -> str:
    return (data_dir("grammar") / "sfidl.lark").read_text(encoding="utf-8")


@cache
def _tables() -> lalr_driver.Tables:
    return lalr_driver.cached_tables(_grammar(), lambda: collecting_parser(("DOC_COMMENT",))[0])


class TokenSink(threading.local):
    """Where lexer callbacks put the tokens they collect: one list per thread, set by each parse."""

    tokens: list[Token] | None = None


@cache
def collecting_parser(
    kinds: tuple[str, ...], *, keep_all_tokens: bool = False
) -> tuple[Lark, TokenSink]:
    """The language's LALR parser, handing tokens of ``kinds`` (comments, which the grammar
    ignores) to the sink the current thread's parse installed: a lexer callback cannot be
    swapped after construction. One per set of arguments; ``sfidl fmt`` keeps all tokens."""
    from lark import Lark

    sink = TokenSink()

    def collect(token: Token) -> Token:
        if sink.tokens is not None:
            sink.tokens.append(token)
        return token

    lark = Lark(
        _grammar(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        keep_all_tokens=keep_all_tokens,
        lexer_callbacks={kind: collect for kind in kinds},
        # The LALR tables, cached in the temp folder keyed by the grammar's hash: building
        # them is most of a small compile's time.
        cache=True,
    )
    return lark, sink


def _parser(docs: list[Token]) -> Lark:
    lark, sink = collecting_parser(("DOC_COMMENT",))
    sink.tokens = docs
    return lark


def _parse_error(parser: Lark, error: UnexpectedInput, text: str, path: str) -> Diagnostic:
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    from sfidl.parse_errors import describe_unexpected

    if isinstance(error, UnexpectedCharacters):
        rest = text[error.pos_in_stream :]
        if rest.startswith('"'):
            message = 'unterminated string (a string ends with `"` on the same line)'
            code = rules.UNTERMINATED_STRING
        elif rest.startswith("/*"):
            message = "unterminated comment (`/*` without `*/`)"
            code = rules.UNTERMINATED_COMMENT
        else:
            message = f"unexpected character {_show_character(error.char)}"
            code = rules.UNEXPECTED_CHARACTER
        return Diagnostic(Span.point(path, error.line, error.column), message, code=code)
    assert isinstance(error, UnexpectedToken)
    token = error.token
    message = describe_unexpected(parser, error)
    previous = _previous_end(error)
    missing_end = "SEMICOLON" in (error.accepts or error.expected) and previous is not None
    if previous is not None and (
        token.type == "$END" or (missing_end and previous[0] != token.line)
    ):
        # A statement was left open at the end of a line: point right after its last token.
        return Diagnostic(Span.point(path, *previous), message, code=rules.UNEXPECTED_TOKEN)
    if token.type == "$END":
        return Diagnostic(Span.point(path, 1, 1), message, code=rules.UNEXPECTED_TOKEN)
    return Diagnostic(_token_span(path, token), message, code=rules.UNEXPECTED_TOKEN)


def _show_character(char: str) -> str:
    """The character in backticks, or its code point when it would not print."""
    if char.isprintable() and not char.isspace():
        return f"`{char}`"
    return f"U+{ord(char):04X}"


def _previous_end(error: UnexpectedToken) -> tuple[int, int] | None:
    """Where the last token the parser accepted ends, if known."""
    from lark import Token

    stack = getattr(error.state, "value_stack", None)
    if not stack:
        return None
    last = stack[-1]
    if isinstance(last, Token):
        if last.end_line is None or last.end_column is None:
            return None
        return last.end_line, last.end_column
    meta = getattr(last, "meta", None)
    if meta is None or getattr(meta, "empty", True):
        return None
    return meta.end_line, meta.end_column


# ---------------------------------------------------------------- doc comments


_SPACE = re.compile(r"\s*")


def _doc_blocks(text: str, docs: Sequence[Token | lalr_driver.Token]) -> dict[int, str]:
    """Doc blocks keyed by the offset of the first token after them.

    A block is a run of `///` lines separated only by whitespace; it documents the
    declaration that starts right after it (blank lines allowed, nothing else).
    """
    blocks: dict[int, str] = {}
    lines: list[str] = []
    for i, token in enumerate(docs):
        line = str(token)[3:]
        lines.append(line[1:] if line.startswith(" ") else line)
        end = token.end_pos or 0
        following = docs[i + 1] if i + 1 < len(docs) else None
        if following is not None and text[end : following.start_pos].isspace():
            continue
        # Where the next token starts (matched in place: slicing the rest of the text for
        # every block made parsing quadratic in the file's size).
        space = _SPACE.match(text, end)
        assert space is not None, "an empty match at least"
        after = space.end()
        blocks[after] = "\n".join(line.rstrip() for line in lines)
        lines = []
    return blocks


# ---------------------------------------------------------------- tree -> AST


def _token_span(path: str, token: Token) -> Span:
    return Span(
        path,
        token.line or 1,
        token.column or 1,
        token.end_line or token.line or 1,
        token.end_column or (token.column or 1) + 1,
    )


_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "'": "'", "0": "\0"}


@dataclass(frozen=True)
class _Effects:
    kind: str
    items: tuple[Any, ...]


def _collect(effects: list[_Effects], kind: str) -> tuple[Any, ...]:
    return tuple(item for e in effects if e.kind == kind for item in e.items)


# Python neither converts nor prints an int of more than 4,300 digits. sfidl's largest
# number, a uint64, has 20, and its largest range, a double's, ends near 1.8e308: a longer
# number is out of every range, and stands as a _LongNumber.
_MAX_DIGITS = 400


class _LongNumber(int):
    """A number of more than _MAX_DIGITS digits: 10**_MAX_DIGITS (with its sign), which every
    range check rejects, printed in diagnostics as written, abbreviated."""

    written: str

    def __new__(cls, written: str) -> _LongNumber:
        sign = -1 if written.startswith("-") else 1
        number = super().__new__(cls, sign * 10**_MAX_DIGITS)
        number.written = written
        return number

    def __str__(self) -> str:
        digits = self.written.lstrip("-")
        sign = "-" if self < 0 else ""
        return f"{sign}{digits[:6]}…{digits[-4:]} ({len(digits)} digits)"

    __repr__ = __str__


@dataclass(frozen=True)
class _Label:
    text: str


@dataclass(frozen=True)
class _Targets:
    refs: tuple[ast.HandlerRef, ...]
    is_join: bool


class _Builder:
    """Builds the frozen AST from lark's tree, attaching doc comments by position.

    Each rule (or alias) of the grammar has the method of its name, called with the rule's
    positions and its children already built.
    """

    def __init__(self, path: str, docs: dict[int, str]) -> None:
        self.path = path
        self.docs = docs
        self.diagnostics: list[Diagnostic] = []

    def build(self, tree: Tree[Token]) -> Any:
        """The AST of ``tree``, bottom-up. (Not lark's ``Transformer``: its wrappers around
        every call were a third of the time of parsing a large file.)"""
        from lark import Tree

        children = [self.build(c) if isinstance(c, Tree) else c for c in tree.children]
        return getattr(self, tree.data)(tree.meta, children)

    # -- helpers

    def _span(self, meta: Meta) -> Span:
        return Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _doc(self, meta: Meta) -> str:
        return self.docs.get(meta.start_pos, "")

    def _name(self, token: Token) -> ast.Name:
        return ast.Name(str(token), _token_span(self.path, token))

    def _int(self, token: Token) -> int:
        text = str(token)
        negative = text.startswith("-")
        digits = text.lstrip("-")
        if len(digits.lstrip("0")) > _MAX_DIGITS:
            return _LongNumber(text)
        value = int(digits, 16) if digits.lower().startswith("0x") else int(digits)
        return -value if negative else value

    def _string(self, token: Token) -> ast.StringLit:
        raw = str(token)[1:-1]
        out: list[str] = []
        i = 0
        while i < len(raw):
            char = raw[i]
            if char == "\\":
                escaped = raw[i + 1]
                if escaped in _ESCAPES:
                    out.append(_ESCAPES[escaped])
                else:
                    column = (token.column or 1) + 1 + i
                    self.diagnostics.append(
                        Diagnostic(
                            Span(self.path, token.line or 1, column, token.line or 1, column + 2),
                            f"unknown escape `\\{escaped}` in a string",
                            hint="the escapes are \\\" \\\\ \\n \\t \\r \\' \\0",
                            code=rules.UNKNOWN_ESCAPE,
                        )
                    )
                i += 2
                continue
            out.append(char)
            i += 1
        return ast.StringLit("".join(out), _token_span(self.path, token))

    def _duration(self, token: Token) -> ast.Duration:
        text = str(token)
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(digits) :]
        number = _LongNumber(digits) if len(digits.lstrip("0")) > _MAX_DIGITS else int(digits)
        return ast.Duration(number * _UNITS[unit], _token_span(self.path, token))

    # -- file

    def start(self, meta: Meta, children: list[Any]) -> ast.File:
        namespace, namespace_span, doc = children[0]
        items = children[1:]
        return ast.File(
            path=self.path,
            namespace=namespace,
            namespace_span=namespace_span,
            imports=tuple(i for i in items if isinstance(i, ast.Import)),
            settings=tuple(i for i in items if isinstance(i, ast.Setting)),
            messages=tuple(i for i in items if isinstance(i, ast.Message)),
            enums=tuple(i for i in items if isinstance(i, ast.Enum)),
            functions=tuple(i for i in items if isinstance(i, ast.Function)),
            ingresses=tuple(i for i in items if isinstance(i, ast.Ingress)),
            egresses=tuple(i for i in items if isinstance(i, ast.Egress)),
            doc=doc,
        )

    def namespace_decl(self, meta: Meta, children: list[Any]) -> tuple[ast.TypeName, Span, str]:
        # A doc block before `namespace` documents the file.
        doc = self.docs.get(meta.start_pos, "")
        return children[0], self._span(meta), doc

    def dotted_name(self, meta: Meta, children: list[Token]) -> ast.TypeName:
        return ast.TypeName(tuple(str(c) for c in children), self._span(meta))

    type_name = dotted_name
    field_type = dotted_name

    def import_decl(self, meta: Meta, children: list[Token]) -> ast.Import:
        return ast.Import(self._string(children[0]), self._span(meta))

    def endpoint_decl(self, meta: Meta, children: list[Token]) -> ast.Setting:
        return ast.Setting("endpoint", self._string(children[0]), self._span(meta))

    def brokers_decl(self, meta: Meta, children: list[Token]) -> ast.Setting:
        return ast.Setting("kafka brokers", self._string(children[0]), self._span(meta))

    def region_decl(self, meta: Meta, children: list[Token]) -> ast.Setting:
        return ast.Setting("kinesis region", self._string(children[0]), self._span(meta))

    # -- types

    def message_decl(self, meta: Meta, children: list[Any]) -> ast.Message:
        return self._message(meta, children, is_error=False)

    def error_decl(self, meta: Meta, children: list[Any]) -> ast.Message:
        return self._message(meta, children, is_error=True)

    def _message(self, meta: Meta, children: list[Any], is_error: bool) -> ast.Message:
        name, members = children
        return ast.Message(
            name=self._name(name),
            fields=tuple(m for m in members if isinstance(m, ast.Field)),
            oneofs=tuple(m for m in members if isinstance(m, ast.Oneof)),
            reserved=tuple(m for m in members if isinstance(m, ast.Reserved)),
            messages=tuple(m for m in members if isinstance(m, ast.Message)),
            enums=tuple(m for m in members if isinstance(m, ast.Enum)),
            span=self._name(name).span,
            is_error=is_error,
            doc=self._doc(meta),
        )

    def message_body(self, meta: Meta, children: list[Any]) -> list[Any]:
        return children

    def label(self, meta: Meta, children: list[Token]) -> _Label:
        return _Label(str(children[0]))

    def field(self, meta: Meta, children: list[Any]) -> ast.Field:
        label: Any = None
        if isinstance(children[0], _Label):
            label = children[0].text
            children = children[1:]
        type_name, name, number = children
        return ast.Field(
            name=self._name(name),
            number=self._int(number),
            number_span=_token_span(self.path, number),
            type=type_name,
            span=self._span(meta),
            label=label,
            doc=self._doc(meta),
        )

    def map_field(self, meta: Meta, children: list[Any]) -> ast.Field:
        key, value, name, number = children
        return ast.Field(
            name=self._name(name),
            number=self._int(number),
            number_span=_token_span(self.path, number),
            type=value,
            span=self._span(meta),
            label="map",
            map_key=key,
            doc=self._doc(meta),
        )

    def oneof_decl(self, meta: Meta, children: list[Any]) -> ast.Oneof:
        return ast.Oneof(self._name(children[0]), tuple(children[1:]), self._span(meta))

    def reserved_decl(self, meta: Meta, children: list[Any]) -> ast.Reserved:
        return ast.Reserved(tuple(children), self._span(meta))

    def reserved_number(self, meta: Meta, children: list[Token]) -> ast.ReservedRange:
        number = self._int(children[0])
        return ast.ReservedRange(number, number, self._span(meta))

    def reserved_range(self, meta: Meta, children: list[Token]) -> ast.ReservedRange:
        start, end = children
        last = None if end.type == "MAX" else self._int(end)
        return ast.ReservedRange(self._int(start), last, self._span(meta))

    def reserved_name(self, meta: Meta, children: list[Token]) -> ast.ReservedName:
        return ast.ReservedName(self._string(children[0]).value, self._span(meta))

    def enum_decl(self, meta: Meta, children: list[Any]) -> ast.Enum:
        name = self._name(children[0])
        members = children[1:]
        return ast.Enum(
            name=name,
            values=tuple(m for m in members if isinstance(m, ast.EnumValue)),
            reserved=tuple(m for m in members if isinstance(m, ast.Reserved)),
            span=name.span,
            doc=self._doc(meta),
        )

    def enum_value(self, meta: Meta, children: list[Token]) -> ast.EnumValue:
        name = self._name(children[0])
        return ast.EnumValue(name, self._int(children[1]), name.span, self._doc(meta))

    # -- functions

    def function_decl(self, meta: Meta, children: list[Any]) -> ast.Function:
        exclusive = getattr(children[0], "type", None) == "EXCLUSIVE"  # lark's or the fast path's
        if exclusive:
            children = children[1:]
        name = self._name(children[0])
        members = children[1:]
        return ast.Function(
            name=name,
            states=tuple(m for m in members if isinstance(m, ast.State)),
            handlers=tuple(m for m in members if isinstance(m, ast.Handler)),
            timers=tuple(m for m in members if isinstance(m, ast.Timer)),
            span=name.span,
            doc=self._doc(meta),
            exclusive=exclusive,
        )

    def state_decl(self, meta: Meta, children: list[Any]) -> ast.State:
        name, type_name, *rest = children
        default = next((r for r in rest if isinstance(r, ast.Literal)), None)
        expiry = next((r for r in rest if isinstance(r, ast.Expiry)), None)
        migration = next((r for r in rest if isinstance(r, ast.Migration)), None)
        return ast.State(
            self._name(name),
            type_name,
            self._span(meta),
            default,
            expiry,
            self._doc(meta),
            migration,
        )

    def migration(self, meta: Meta, children: list[ast.TypeName]) -> ast.Migration:
        return ast.Migration(children[0], self._span(meta))

    def default(self, meta: Meta, children: list[ast.Literal]) -> ast.Literal:
        return children[0]

    def int_literal(self, meta: Meta, children: list[Token]) -> ast.Literal:
        return ast.Literal(self._int(children[0]), self._span(meta))

    def float_literal(self, meta: Meta, children: list[Token]) -> ast.Literal:
        return ast.Literal(float(children[0]), self._span(meta))

    def bool_literal(self, meta: Meta, children: list[Token]) -> ast.Literal:
        return ast.Literal(str(children[0]) == "true", self._span(meta))

    def string_literal(self, meta: Meta, children: list[Token]) -> ast.Literal:
        return ast.Literal(self._string(children[0]).value, self._span(meta))

    def expiry(self, meta: Meta, children: list[Token]) -> ast.Expiry:
        return ast.Expiry(
            "write" if str(children[0]) == "write" else "call",
            self._duration(children[1]),
            self._span(meta),
        )

    def rpc_decl(self, meta: Meta, children: list[Any]) -> ast.Handler:
        name, request, reply, *rest = children
        raises: tuple[ast.TypeName, ...] = ()
        if rest and isinstance(rest[0], tuple):
            raises, rest = rest[0], rest[1:]
        return self._handler("rpc", meta, name, request, reply, raises, rest)

    def on_decl(self, meta: Meta, children: list[Any]) -> ast.Handler:
        name, request, *rest = children
        return self._handler("on", meta, name, request, None, (), rest)

    def _handler(
        self,
        kind: Any,
        meta: Meta,
        name: Token,
        request: ast.TypeName,
        reply: ast.TypeName | None,
        raises: tuple[ast.TypeName, ...],
        effects: list[_Effects],
    ) -> ast.Handler:
        return ast.Handler(
            kind=kind,
            name=self._name(name),
            request=request,
            span=self._span(meta),
            reply=reply,
            raises=raises,
            calls=_collect(effects, "calls"),
            sends=_collect(effects, "sends"),
            emits=_collect(effects, "emits"),
            sets=_collect(effects, "sets"),
            completes=_collect(effects, "completes"),
            doc=self._doc(meta),
        )

    def raises(self, meta: Meta, children: list[ast.TypeName]) -> tuple[ast.TypeName, ...]:
        return tuple(children)

    def timer_decl(self, meta: Meta, children: list[Any]) -> ast.Timer:
        name, message, *effects = children
        return ast.Timer(
            name=self._name(name),
            message=message,
            span=self._span(meta),
            calls=_collect(effects, "calls"),
            sends=_collect(effects, "sends"),
            emits=_collect(effects, "emits"),
            sets=_collect(effects, "sets"),
            completes=_collect(effects, "completes"),
            doc=self._doc(meta),
        )

    def calls(self, meta: Meta, children: list[ast.CallDecl]) -> _Effects:
        return _Effects("calls", tuple(children))

    def sends(self, meta: Meta, children: list[ast.HandlerRef]) -> _Effects:
        return _Effects("sends", tuple(children))

    def emits(self, meta: Meta, children: list[Token]) -> _Effects:
        return _Effects("emits", tuple(self._name(c) for c in children))

    def sets(self, meta: Meta, children: list[Token]) -> _Effects:
        return _Effects("sets", tuple(self._name(c) for c in children))

    def completes(self, meta: Meta, children: list[Token]) -> _Effects:
        return _Effects("completes", tuple(self._name(c) for c in children))

    def call(self, meta: Meta, children: list[Any]) -> ast.CallDecl:
        targets, continuation, *rest = children
        carrying = next((r for r in rest if isinstance(r, ast.TypeName)), None)
        timeout = next((r for r in rest if isinstance(r, ast.Duration)), None)
        return ast.CallDecl(
            targets.refs,
            self._name(continuation),
            self._span(meta),
            targets.is_join,
            carrying,
            timeout,
        )

    def single_target(self, meta: Meta, children: list[ast.HandlerRef]) -> _Targets:
        return _Targets(tuple(children), is_join=False)

    def join_targets(self, meta: Meta, children: list[ast.HandlerRef]) -> _Targets:
        return _Targets(tuple(children), is_join=True)

    def carrying(self, meta: Meta, children: list[ast.TypeName]) -> ast.TypeName:
        return children[0]

    def timeout(self, meta: Meta, children: list[Token]) -> ast.Duration:
        return self._duration(children[0])

    def handler_ref(self, meta: Meta, children: list[Token]) -> ast.HandlerRef:
        *function, handler = children
        first, last = function[0], function[-1]
        span = Span(
            self.path, first.line or 1, first.column or 1, last.end_line or 1, last.end_column or 1
        )
        return ast.HandlerRef(
            ast.TypeName(tuple(str(f) for f in function), span),
            self._name(handler),
            self._span(meta),
        )

    # -- ingresses and egresses

    def ingress_decl(self, meta: Meta, children: list[Any]) -> ast.Ingress:
        name, channel, *rest = children
        message = rest[0] if len(rest) == 2 else None
        return ast.Ingress(
            self._name(name), channel, rest[-1], self._span(meta), message, self._doc(meta)
        )

    def egress_decl(self, meta: Meta, children: list[Any]) -> ast.Egress:
        name, channel, message = children
        return ast.Egress(self._name(name), channel, self._span(meta), message, self._doc(meta))

    def io_channel(self, meta: Meta, children: list[Token]) -> ast.Channel:
        return ast.Channel(
            "kafka" if children[0].type == "KAFKA" else "kinesis",
            self._string(children[1]),
            self._span(meta),
        )

    def of_type(self, meta: Meta, children: list[ast.TypeName]) -> ast.TypeName:
        return children[0]

    def dead_letters(self, meta: Meta, children: list[Any]) -> None:
        return None
