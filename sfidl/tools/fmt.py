"""`sfidl fmt`: the one canonical layout of a .sfidl file, comments kept where they were.

``format_source(text, path)`` is the whole formatter (the command and editors call it).
A file that does not parse raises :class:`CompileError` with the parser's diagnostics and
is never rewritten. The result is parsed again before it is returned: its tokens must be
the input's, with every comment (its text kept) between the same two tokens; if they were
not, the formatter would refuse with a diagnostic rather than return a file that lost or
moved a comment or changed meaning.

The layout is in :mod:`sfidl.tools.fmt_layout`, the placing of comments in
:mod:`sfidl.tools.fmt_print`.
"""

from __future__ import annotations

import difflib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from sfidl.check import rules
from sfidl.diagnostics import CompileError, Diagnostic, Severity, Span
from sfidl.parse import collecting_parser, parse
from sfidl.tools.fmt_layout import Layout
from sfidl.tools.fmt_print import comment_text, render

_COMMENTS = ("DOC_COMMENT", "LINE_COMMENT", "BLOCK_COMMENT")


def format_source(text: str, path: str) -> str:
    """``text`` (the .sfidl file shown as ``path`` in diagnostics) in the canonical layout.

    Raises :class:`CompileError` when the text does not parse (the same diagnostics as
    ``sfidl check``), and when the formatter could not keep every comment and the meaning.
    """
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    parsed = parse(text, path)
    errors = [d for d in parsed.diagnostics if d.severity is Severity.ERROR]
    if parsed.file is None or errors:
        raise CompileError(errors, {path: text})
    before = _tokens(text)
    layout = Layout([c.start_pos or 0 for c in before.comments])
    formatted = render(text, layout.file(before.tree), before.comments)
    _verify(formatted, path, text, before)
    return formatted


@dataclass(frozen=True)
class _Tokens:
    """A parse keeping everything: the tree with punctuation, and the comments apart."""

    tree: Tree[Token]
    comments: list[Token]

    def words(self) -> list[Token]:
        return list(self.tree.scan_values(lambda v: isinstance(v, Token)))

    def stream(self) -> list[tuple[Token, str]]:
        """Tokens and comments in source order, each with its text as fmt writes it."""
        items = [(t, str(t)) for t in self.words()] + [(c, comment_text(c)) for c in self.comments]
        return sorted(items, key=lambda item: item[0].start_pos or 0)


def _verify(formatted: str, path: str, text: str, before: _Tokens) -> None:
    """Refuse, with a diagnostic, a result that is not the input with other whitespace.

    The same tokens with the same comments between the same two tokens: then every doc
    comment documents what it did (a `///` block documents what directly follows it), so
    the syntax tree, docs included, is the input's.
    """
    try:
        after = _tokens(formatted)
    except UnexpectedInput:
        _refuse(text, path, None, "it would not parse any more")
    if [(t.type, str(t)) for t in before.words()] != [(t.type, str(t)) for t in after.words()]:
        _refuse(text, path, None, "it would change the file's tokens")
    expected, written = before.stream(), after.stream()
    for i, (token, written_text) in enumerate(expected):
        if i >= len(written) or (written[i][0].type, written[i][1]) != (token.type, written_text):
            moved = next((t for t, _ in expected[i:] if t.type in _COMMENTS), token)
            _refuse(text, path, moved, "it cannot keep this comment in its place")
    if len(written) != len(expected):
        _refuse(text, path, None, "it would add a comment")


def _refuse(text: str, path: str, where: Token | None, why: str) -> None:
    span = (
        Span(path, where.line or 1, where.column or 1, where.line or 1, (where.column or 1) + 2)
        if where is not None
        else Span.point(path, 1, 1)
    )
    problem = Diagnostic(
        span,
        f"sfidl fmt leaves this file as it is: {why}",
        hint="this is a bug in sfidl fmt, not in your file; please report it at "
        "https://github.com/sfidl/sfidl/issues",
        code=rules.FMT_FAILED,
    )
    raise CompileError([problem], {path: text})


# ---------------------------------------------------------------- the parser


def _tokens(text: str) -> _Tokens:
    # Punctuation kept in the tree, and every kind of comment collected.
    lark, sink = collecting_parser(_COMMENTS, keep_all_tokens=True)
    comments: list[Token] = []
    sink.tokens = comments
    try:
        tree = lark.parse(text)
    finally:
        sink.tokens = None
    return _Tokens(tree, sorted(comments, key=lambda c: c.start_pos or 0))


# ---------------------------------------------------------------- files


@dataclass(frozen=True)
class FileResult:
    """One file through the formatter: its text as read and as formatted."""

    path: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        """A unified diff from the file to its formatted text (empty when unchanged)."""
        name = str(self.path)
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                f"{name} (original)",
                f"{name} (formatted)",
            )
        )


def format_file(path: Path) -> FileResult:
    """Read and format one file; raises :class:`CompileError` for an unreadable or
    unparsable one."""
    display = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        problem = Diagnostic(
            Span.point(display, 1, 1),
            f"cannot read `{display}`: {error.strerror or error}",
            code=rules.UNREADABLE_FILE,
        )
        raise CompileError([problem], {}) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        problem = Diagnostic(
            Span.point(display, 1, 1),
            f"cannot read `{display}`: it is not UTF-8 text "
            f"(invalid byte 0x{data[error.start]:02X} at offset {error.start})",
            code=rules.NOT_UTF8,
        )
        raise CompileError([problem], {}) from None
    return FileResult(path, text, format_source(text, display))


def write_formatted(result: FileResult) -> None:
    """Replace the file by its formatted text, atomically, keeping its permissions."""
    temporary = result.path.with_name(f".{result.path.name}.sfidl-fmt.tmp")
    try:
        temporary.write_text(result.after, encoding="utf-8")
        shutil.copymode(result.path, temporary)
        os.replace(temporary, result.path)
    finally:
        temporary.unlink(missing_ok=True)
