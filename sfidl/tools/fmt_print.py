"""Writes a laid-out file as text, with every comment of the source put back in its place.

A comment sits in the gap between two tokens (or before the first, after the last), and
stays there. Where it stood decides how it is written:

- after a token on the same source line (a trailing comment): at the end of that output
  line, two spaces after the token (one before a ``/* */`` comment, none in a gap that has
  no space); whatever follows a ``//`` comment goes on the next line;
- on a line of its own: on a line of its own, at the depth of what follows it (of the
  body, before a ``}``), or four columns deeper than its line inside a declaration the
  layout keeps on one line.

Blank lines around comments follow the gap's rules (:class:`~sfidl.tools.fmt_layout.Gap`);
between two comments the author's blank line is kept. Line comments lose trailing
whitespace; ``/* */`` comments are written verbatim, lines and indentation included.
"""

from __future__ import annotations

from collections.abc import Sequence

from lark import Token

from sfidl.tools.fmt_layout import Gap

_END = Gap("line", 0, "keep", False)
_CONTINUATION = 4
# Comments that run to the end of their line.
_TO_END_OF_LINE = {"LINE_COMMENT", "DOC_COMMENT"}


def comment_text(comment: Token) -> str:
    """A comment as the formatter writes it."""
    text = str(comment)
    return text.rstrip() if comment.type in _TO_END_OF_LINE else text


def render(text: str, items: Sequence[tuple[Gap, Token]], comments: Sequence[Token]) -> str:
    """The file: ``items`` (from the layout) with ``comments`` (sorted by offset) in their gaps."""
    printer = _Printer(text)
    following = 0
    previous_end: int | None = None
    for gap, token in [*items, (_END, None)]:
        limit = len(text) if token is None else (token.start_pos or 0)
        group: list[Token] = []
        while following < len(comments) and (comments[following].start_pos or 0) < limit:
            group.append(comments[following])
            following += 1
        printer.gap(gap, group, previous_end, limit)
        if token is not None:
            printer.write(str(token))
            previous_end = token.end_pos or 0
    return printer.result()


class _Printer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lines: list[str] = []
        self.current = ""  # the current line's content, without its indentation
        self.indent = 0  # the current line's indentation
        self.unit_indent = 0  # the indentation of the last line the layout started

    def write(self, piece: str) -> None:
        self.current += piece

    def result(self) -> str:
        return "\n".join(self.lines) + "\n"

    def _newline(self, indent: int) -> None:
        if self.current:
            self.lines.append((" " * self.indent + self.current).rstrip())
        self.current = ""
        self.indent = indent

    def _blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def _blank_in_source(self, start: int, end: int) -> bool:
        return self.text.count("\n", start, end) >= 2

    def gap(self, gap: Gap, comments: list[Token], previous_end: int | None, limit: int) -> None:
        """Write the gap before the token at ``limit`` with the comments it holds."""
        cursor = previous_end or 0
        # Inside a declaration kept on one line, comments on their own lines go deeper.
        comment_indent = (
            gap.indent_of_comments if gap.kind == "line" else self.unit_indent + _CONTINUATION
        )
        own_line_seen = False
        to_end_of_line = False
        for comment in comments:
            start = comment.start_pos or 0
            own_line = "\n" in self.text[cursor:start] or (previous_end is None and cursor == 0)
            if own_line:
                self._newline(comment_indent)
                if own_line_seen:
                    blank = self._blank_in_source(cursor, start)
                else:
                    blank = gap.kind == "line" and (
                        gap.lead == "always"
                        or (gap.lead == "keep" and self._blank_in_source(cursor, start))
                    )
                if blank:
                    self._blank()
                own_line_seen = True
            elif comment.type in _TO_END_OF_LINE:
                self.write("  ")
            elif gap.kind != "none":
                self.write(" ")
            self.write(comment_text(comment))
            to_end_of_line = comment.type in _TO_END_OF_LINE
            cursor = comment.end_pos or 0
        if gap.kind == "line":
            self._newline(gap.indent)
            if own_line_seen:
                blank = gap.tail and self._blank_in_source(cursor, limit)
            else:
                blank = gap.lead == "always" or (
                    gap.lead == "keep" and gap.tail and self._blank_in_source(cursor, limit)
                )
            if blank:
                self._blank()
            self.unit_indent = gap.indent
        elif to_end_of_line or (own_line_seen and "\n" in self.text[cursor:limit]):
            self._newline(self.unit_indent + _CONTINUATION)
        elif gap.kind == "space":
            self.write(" ")
