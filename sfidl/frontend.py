"""The front end in one call: read a .sfidl file and its imports, parse, check.

loaded = load_program(Path("shop.sfidl"))   # raises CompileError with every error
loaded.program                               # the checked model

analysis = analyze(Path("shop.sfidl"), {path: text})   # never raises: for editors
analysis.diagnostics                                   # errors and warnings of every file, lint too
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from sfidl import ast
from sfidl.check import rules
from sfidl.check import Unit, check
from sfidl.check.lint import RULE_IDS, lint
from sfidl.check.types import MAX_NESTING
from sfidl.diagnostics import CompileError, Diagnostic, Severity, Span
from sfidl.model import Program
from sfidl.parse import parse


@dataclass(frozen=True)
class LoadedProgram:
    program: Program
    warnings: tuple[Diagnostic, ...]
    sources: Mapping[str, str]  # display path -> text, to render warnings


@dataclass(frozen=True)
class Analysis:
    """All the front end learnt about a program, whether it has errors or not."""

    units: tuple[Unit, ...]  # the files that parsed, in dependency order
    diagnostics: tuple[Diagnostic, ...]  # errors and warnings of every file, by place
    sources: Mapping[str, str]  # display path -> text
    files: Mapping[str, Path]  # display path -> the file it was read from (resolved)
    program: Program | None  # None when there is an error

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)


def analyze(
    path: Path, texts: Mapping[Path, str] | None = None, lints: Collection[str] = RULE_IDS
) -> Analysis:
    """Read, parse and check the program rooted at ``path``, reporting instead of raising.

    ``texts`` holds the text of files to take instead of what is on disk (an editor's
    unsaved buffers), by resolved path. The ``lints`` rules (all by default) run over a
    program without errors.
    """
    loader = _Loader(Path.cwd().resolve(), dict(texts or {}))
    loader.load_root(path)
    diagnostics = list(loader.diagnostics)
    program = None
    if loader.units:
        result = check(loader.units)
        diagnostics.extend(result.diagnostics)
        program = result.program
        if program is not None:
            diagnostics.extend(lint(program, loader.sources, lints))
    return Analysis(
        units=tuple(loader.units),
        diagnostics=tuple(sorted(diagnostics, key=lambda d: d.span)),
        sources=dict(loader.sources),
        files={display: resolved for resolved, display in loader.displays.items()},
        program=program,
    )


def load_program(path: Path, lints: Collection[str] = ()) -> LoadedProgram:
    """Load, parse and check the program rooted at ``path``.

    Raises :class:`CompileError` with every error of every file (reading, parsing and
    checking); warnings of a successful load, and of the ``lints`` rules (none by
    default), come back in ``warnings``.
    """
    analysis = analyze(path, lints=lints)
    # Every file that failed to load reported an error, so no error means a full program.
    if analysis.errors:
        raise CompileError(analysis.errors, analysis.sources)
    assert analysis.program is not None
    warnings = tuple(d for d in analysis.diagnostics if d.severity is Severity.WARNING)
    return LoadedProgram(analysis.program, warnings, dict(analysis.sources))


@dataclass
class _Loader:
    """Reads and parses the import closure depth-first, in dependency order."""

    cwd: Path
    texts: dict[Path, str]  # resolved path -> text to take instead of the file's
    units: list[Unit] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    displays: dict[Path, str] = field(default_factory=dict)
    done: dict[Path, bool] = field(default_factory=dict)  # resolved path -> loaded fine
    stems: dict[str, Path] = field(default_factory=dict)
    stack: list[Path] = field(default_factory=list)

    def load_root(self, path: Path) -> None:
        resolved = path.resolve()
        self.displays[resolved] = str(path)
        self._load(resolved, None)

    def _display(self, resolved: Path) -> str:
        if resolved not in self.displays:
            try:
                self.displays[resolved] = str(resolved.relative_to(self.cwd))
            except ValueError:
                self.displays[resolved] = str(resolved)
        return self.displays[resolved]

    def _error(self, span: Span, message: str, hint: str | None = None, *, code: str) -> None:
        self.diagnostics.append(Diagnostic(span, message, hint, code=code))

    def _load(self, resolved: Path, importer: Span | None) -> bool:
        """Load one file and its imports; False when it could not be parsed."""
        display = self._display(resolved)
        where = importer or Span.point(display, 1, 1)
        text = self._read(resolved, display, where)
        if text is None:
            self.done[resolved] = False
            return False
        self.sources[display] = text
        parsed = parse(text, display)
        self.diagnostics.extend(parsed.diagnostics)
        if parsed.file is None:
            self.done[resolved] = False
            return False
        proto_file = self._proto_file(resolved, display, importer or parsed.file.namespace_span)
        self.stack.append(resolved)
        imports, complete = self._imports(resolved, parsed.file)
        self.stack.pop()
        file = _cut_below_nesting_limit(parsed.file)
        self.units.append(Unit(file, proto_file, tuple(imports), complete))
        self.done[resolved] = True
        return True

    def _imports(self, resolved: Path, file: ast.File) -> tuple[list[str], bool]:
        imports: list[str] = []
        complete = True
        for statement in file.imports:
            written = statement.path.value
            if not written.endswith(".sfidl"):
                self._error(
                    statement.path.span,
                    f"cannot import `{written}`: only .sfidl files can be imported",
                    hint="well-known protobuf types need no import",
                    code=rules.IMPORT_NOT_SFIDL,
                )
                continue
            target = (resolved.parent / written).resolve()
            if target in self.stack:
                cycle = self.stack[self.stack.index(target) :] + [target]
                self._error(
                    statement.span,
                    "import cycle: " + " -> ".join(self._display(p) for p in cycle),
                    code=rules.IMPORT_CYCLE,
                )
                complete = False
                continue
            display = self._display(target)
            if display in imports:
                self._error(
                    statement.span, f"`{written}` is imported twice", code=rules.DUPLICATE_IMPORT
                )
                continue
            loaded = (
                self.done[target] if target in self.done else self._load(target, statement.span)
            )
            complete = complete and loaded
            imports.append(display)
        return imports, complete

    def _read(self, resolved: Path, display: str, where: Span) -> str | None:
        if resolved in self.texts:
            return self.texts[resolved].removeprefix("\ufeff")
        try:
            data = resolved.read_bytes()
        except FileNotFoundError:
            self._error(where, f"cannot read `{display}`: no such file", code=rules.UNREADABLE_FILE)
            return None
        except IsADirectoryError:
            self._error(
                where, f"cannot read `{display}`: it is a directory", code=rules.UNREADABLE_FILE
            )
            return None
        except OSError as error:
            self._error(
                where,
                f"cannot read `{display}`: {error.strerror or error}",
                code=rules.UNREADABLE_FILE,
            )
            return None
        try:
            return data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as error:
            # Point at the offending byte; the text shown under it has the byte replaced.
            before = data[: error.start].decode("utf-8").removeprefix("\ufeff")
            line = before.count("\n") + 1
            column = len(before) - (before.rfind("\n") + 1) + 1
            self.sources[display] = data.decode("utf-8", "replace").removeprefix("\ufeff")
            self._error(
                Span.point(display, line, column),
                f"cannot read `{display}`: it is not UTF-8 text "
                f"(invalid byte 0x{data[error.start]:02X} at offset {error.start})",
                code=rules.NOT_UTF8,
            )
            return None

    def _proto_file(self, resolved: Path, display: str, where: Span) -> str:
        stem = resolved.name.removesuffix(".sfidl")
        if not stem.isidentifier():
            self._error(
                where,
                f"the file name `{resolved.name}` cannot name a Python module",
                hint=f"it becomes the module `{stem}_pb2`: use letters, digits and `_`",
                code=rules.FILE_NAME,
            )
        other = self.stems.setdefault(stem, resolved)
        if other != resolved:
            self._error(
                where,
                f"`{display}` and `{self._display(other)}` would both compile to `{stem}.proto`",
                hint="rename one of them",
                code=rules.PROTO_FILE_CLASH,
            )
        return f"{stem}.proto"


def _cut_below_nesting_limit(file: ast.File) -> ast.File:
    """``file`` without what nests inside a message already deeper than protoc allows.

    The check reports that message (protoc's limit); what is inside it cannot compile
    either, and walking it, at any depth a file can parse to, would exhaust Python's stack.
    """
    too_deep = MAX_NESTING + 1
    pending = [(message, 1) for message in file.messages]
    while pending:  # a loop, not a recursion, to find out
        message, depth = pending.pop()
        if depth == too_deep and message.messages:
            break
        pending.extend((nested, depth + 1) for nested in message.messages)
    else:
        return file

    def cut(message: ast.Message, depth: int) -> ast.Message:
        if depth == too_deep:
            return replace(message, messages=())
        return replace(message, messages=tuple(cut(m, depth + 1) for m in message.messages))

    return replace(file, messages=tuple(cut(m, 1) for m in file.messages))
