"""The open documents and their programs.

Each open .sfidl document is analysed as the root of its own program, from the texts the
editor sent (an import that is open is read from its buffer, not from the disk), every
time an open document changes: an edit in one file can fix or break the files importing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sfidl.diagnostics import Diagnostic, Severity
from sfidl.frontend import Analysis, analyze
from sfidl.index import Index, build_index


@dataclass(frozen=True)
class Snapshot:
    """One root's latest analysis, and the index of the latest text of it that parsed.

    The index outlives a text that does not parse, so that completion still knows the
    names while a declaration is half typed.
    """

    analysis: Analysis
    index: Index | None
    files: Mapping[str, Path]  # display path -> file, for the index's spans
    sources: Mapping[str, str]  # display path -> the text the index was built from


@dataclass(frozen=True)
class FileDiagnostics:
    """The diagnostics to show for one file and the text their spans count in."""

    text: str
    diagnostics: tuple[Diagnostic, ...]


@dataclass
class Programs:
    texts: dict[Path, str] = field(default_factory=dict)  # open documents, by resolved path
    snapshots: dict[Path, Snapshot] = field(default_factory=dict)
    published: set[Path] = field(default_factory=set)  # files shown with diagnostics

    def set_text(self, path: Path, text: str) -> None:
        self.texts[path] = text

    def close(self, path: Path) -> None:
        self.texts.pop(path, None)
        self.snapshots.pop(path, None)

    def snapshot(self, path: Path) -> Snapshot | None:
        return self.snapshots.get(path)

    def refresh(self) -> dict[Path, FileDiagnostics]:
        """Analyse every open document again; the diagnostics of every file they reach.

        A file that had diagnostics and has none now is in the result with none, so that
        the editor clears them.
        """
        found: dict[Path, dict[tuple[object, ...], Diagnostic]] = {}
        texts: dict[Path, str] = {}
        for root in sorted(self.texts):
            analysis = analyze(root, self.texts)
            parsed = any(unit.file.path == str(root) for unit in analysis.units)
            previous = self.snapshots.get(root)
            if parsed or previous is None:
                snapshot = Snapshot(
                    analysis,
                    build_index(analysis.units) if parsed else None,
                    analysis.files,
                    analysis.sources,
                )
            else:
                snapshot = Snapshot(analysis, previous.index, previous.files, previous.sources)
            self.snapshots[root] = snapshot
            for diagnostic in analysis.diagnostics:
                # Without its root, the checker takes the last import for the root: its
                # warnings about the program as a whole would be about the wrong file.
                if not parsed and diagnostic.severity is Severity.WARNING:
                    continue
                path = analysis.files[diagnostic.span.file]
                texts[path] = analysis.sources.get(diagnostic.span.file, "")
                # The same file is shown under other display paths from other roots.
                span = diagnostic.span
                key = (span.line, span.column, span.end_line, span.end_column) + (
                    diagnostic.message,
                    diagnostic.hint,
                    diagnostic.severity,
                )
                found.setdefault(path, {}).setdefault(key, diagnostic)
        result = {
            path: FileDiagnostics(texts.get(path, ""), tuple(found.get(path, {}).values()))
            for path in sorted(found.keys() | self.published)
        }
        self.published = set(found)
        return result
