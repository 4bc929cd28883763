"""sfidl spans (1-based lines, columns counted in characters) and LSP positions (0-based,
columns counted in the encoding the client and server agreed on, UTF-16 by default)."""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types
from pygls.workspace import PositionCodec

from sfidl.diagnostics import Span


def lines_of(text: str) -> list[str]:
    """The lines as the parser counts them: split at ``\\n`` only."""
    return text.split("\n")


def to_range(span: Span, lines: Sequence[str], codec: PositionCodec) -> types.Range:
    return types.Range(
        start=_position(span.line, span.column, lines, codec),
        end=_position(span.end_line, span.end_column, lines, codec),
    )


def from_position(
    position: types.Position, lines: Sequence[str], codec: PositionCodec
) -> tuple[int, int]:
    """The 1-based line and character column of an LSP position."""
    line = lines[position.line] if position.line < len(lines) else ""
    units = 0
    for index, char in enumerate(line):
        if units >= position.character:
            return position.line + 1, index + 1
        units += codec.client_num_units(char)
    return position.line + 1, len(line) + 1


def _position(line: int, column: int, lines: Sequence[str], codec: PositionCodec) -> types.Position:
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    # A diagnostic may point just past the end of its line (a missing `;`).
    units = codec.client_num_units(text[: column - 1]) + max(0, column - 1 - len(text))
    return types.Position(line=max(0, line - 1), character=units)
