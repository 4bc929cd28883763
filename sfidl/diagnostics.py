"""Source positions and the rendering of diagnostics (errors and warnings).

Every user mistake becomes a :class:`Diagnostic` with a :class:`Span`; the front end
collects all of them for a run and raises :class:`CompileError` once, so the user sees
every error of the input at once. Each diagnostic names the rule it reports with a
stable id from the registry in :mod:`sfidl.check.rules` (``code``). Rendering follows the
rustc/clang shape::

    shop.sfidl:12:9: error[unknown-type]: unknown type `Reservd`
       12 |   rpc reserve(Reservd) returns Reserved;
          |               ^^^^^^^
       = hint: did you mean `Reserved`?
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, order=True)
class Span:
    """A region of a source file; lines and columns are 1-based, ``end_column`` exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(file: str, line: int, column: int) -> Span:
        return Span(file, line, column, line, column + 1)


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    span: Span
    message: str
    hint: str | None = None
    severity: Severity = Severity.ERROR
    # The id of the rule broken (sfidl.check.rules), shown as ``error[unknown-type]``.
    code: str | None = None

    def render(self, sources: Mapping[str, str]) -> str:
        """The message with the source line and a caret under the span."""
        s = self.span
        kind = self.severity.value if self.code is None else f"{self.severity.value}[{self.code}]"
        head = f"{s.file}:{s.line}:{s.column}: {kind}: {self.message}"
        lines = [head]
        text = sources.get(s.file)
        if text is not None:
            source_lines = text.splitlines()
            if 1 <= s.line <= len(source_lines):
                src = _printable(source_lines[s.line - 1])
                gutter = str(s.line)
                end = s.end_column if s.end_line == s.line else len(src) + 1
                width = max(1, end - s.column)
                lines.append(f" {gutter} | {src}")
                lines.append(f" {' ' * len(gutter)} | {' ' * (s.column - 1)}{'^' * width}")
        if self.hint:
            lines.append(f"  = hint: {self.hint}")
        return "\n".join(lines)


class CompileError(Exception):
    """Raised with every diagnostic of a failed run; never for a bug in sfidl itself."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]):
        self.diagnostics = tuple(sorted(diagnostics, key=lambda d: d.span))
        self.sources = dict(sources)
        super().__init__(self.render())

    def render(self) -> str:
        parts = [d.render(self.sources) for d in self.diagnostics]
        count = sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)
        parts.append(f"{count} error{'s' if count != 1 else ''}")
        return "\n".join(parts)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return f"did you mean `{close[0]}`?" if close else None


def _printable(line: str) -> str:
    """The line as a terminal can show it: one visible character per character, so the caret lines up."""
    return "".join(
        " " if c == "\t" else c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in line
    )
