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
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
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
    code: str = field(kw_only=True)

    def render(self, sources: Mapping[str, str] | SourceLines) -> str:
        """The message with the source line and a caret under the span.

        To render many diagnostics, pass one :class:`SourceLines` to each (as
        :func:`render_all` does): a mapping of texts is split into lines on every call.
        """
        lines_of = sources if isinstance(sources, SourceLines) else SourceLines(sources)
        s = self.span
        head = f"{s.file}:{s.line}:{s.column}: {self.severity.value}[{self.code}]: {self.message}"
        lines = [head]
        source_line = lines_of.line(s.file, s.line)
        if source_line is not None:
            src = _printable(source_line)
            gutter = str(s.line)
            end = s.end_column if s.end_line == s.line else len(src) + 1
            width = max(1, end - s.column)
            lines.append(f" {gutter} | {src}")
            lines.append(f" {' ' * len(gutter)} | {' ' * (s.column - 1)}{'^' * width}")
        if self.hint:
            lines.append(f"  = hint: {self.hint}")
        return "\n".join(lines)


class SourceLines:
    """The lines of each source file, split on first use: rendering N diagnostics of a
    file splits its text once, not N times."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self._sources = sources
        self._lines: dict[str, list[str]] = {}

    def line(self, file: str, number: int) -> str | None:
        """Line ``number`` (1-based) of ``file``, or None if there is no such line or file."""
        lines = self._lines.get(file)
        if lines is None:
            text = self._sources.get(file)
            if text is None:
                return None
            lines = self._lines[file] = _split_lines(text)
        return lines[number - 1] if 1 <= number <= len(lines) else None


def render_all(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> list[str]:
    """Each diagnostic rendered, every source file split into lines once."""
    lines = SourceLines(sources)
    return [d.render(lines) for d in diagnostics]


def _split_lines(text: str) -> list[str]:
    # One place that splits a source, so a test can count that it happens once per file.
    return text.splitlines()


class CompileError(Exception):
    """Raised with every diagnostic of a failed run; never for a bug in sfidl itself."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]):
        self.diagnostics = tuple(sorted(diagnostics, key=lambda d: d.span))
        self.sources = dict(sources)
        parts = render_all(self.diagnostics, self.sources)
        count = sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)
        parts.append(f"{count} error{'s' if count != 1 else ''}")
        self._rendered = "\n".join(parts)
        super().__init__(self._rendered)

    def render(self) -> str:
        """Every diagnostic rendered, then the count of errors (rendered once, when raised)."""
        return self._rendered


# Close-match comparisons (difflib) one run may spend on hints: a program of thousands of
# declarations with thousands of misspelt names would otherwise compare every pair.
SUGGESTION_BUDGET = 50_000


class Suggester:
    """ "Did you mean" hints for one run, at a cost linear in the number of names asked for.

    A misspelt name is compared with every candidate (difflib's close matches) while the
    run's :data:`SUGGESTION_BUDGET` of comparisons lasts; after that only a name that
    differs in case alone is suggested, found by lookup. Each collection of candidates is
    prepared once however often it is asked about: pass the same object each time.
    """

    def __init__(self, budget: int = SUGGESTION_BUDGET) -> None:
        self.remaining = budget
        # id -> (the collection, kept so that its id is not reused; its prepared form)
        self._prepared: dict[int, tuple[Collection[str], _Candidates]] = {}

    def hint(self, name: str, candidates: Collection[str]) -> str | None:
        """A hint naming the closest candidate, or None when nothing is close."""
        entry = self._prepared.get(id(candidates))
        if entry is None or entry[0] is not candidates:
            entry = candidates, _Candidates(candidates)
            self._prepared[id(candidates)] = entry
        prepared = entry[1]
        close: list[str] = []
        if len(prepared.names) <= self.remaining:
            self.remaining -= len(prepared.names)
            close = difflib.get_close_matches(name, prepared.names, n=1, cutoff=0.6)
        if not close and name.lower() in prepared.lowered:
            close = [prepared.lowered[name.lower()]]
        return f"did you mean `{close[0]}`?" if close else None


class _Candidates:
    def __init__(self, candidates: Iterable[str]) -> None:
        self.names = sorted(set(candidates))
        # The last of the names equal ignoring case, as the dictionary keeps it.
        self.lowered = {c.lower(): c for c in candidates}


def _printable(line: str) -> str:
    """The line as a terminal can show it: one visible character per character, so the caret lines up."""
    return "".join(
        " " if c == "\t" else c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in line
    )
