"""The compile pipeline: a .sfidl file in, every generated file out (in memory)."""

from __future__ import annotations

import dataclasses
import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sfidl.diagnostics import Diagnostic
from sfidl.frontend import LoadedProgram, load_program
from sfidl.model import Program


@dataclass(frozen=True)
class Compiled:
    """The outputs of one .sfidl file, by file name, and the warnings it gave."""

    program: Program
    files: dict[str, bytes]
    warnings: tuple[Diagnostic, ...]
    sources: dict[str, str]


def check_file(path: Path) -> LoadedProgram:
    """Check ``path`` and the files it imports as :func:`compile_file` would, generating nothing.

    Every input :func:`compile_file` refuses is refused here (the checker holds every rule;
    the generators, protoc and black never reject a checked program), without running them.
    """
    with _few_collections():
        return load_program(path)


def compile_file(path: Path, *, endpoint: str | None = None) -> Compiled:
    """Compile ``path`` and the files it imports; raises ``CompileError`` for any mistake in them.

    ``endpoint`` overrides the file's `endpoint` statement (``--endpoint``).
    """
    with _few_collections():
        return _compile(path, endpoint)


@contextmanager
def _few_collections() -> Iterator[None]:
    """Collect garbage rarely while compiling: a compile builds a large tree of objects that
    all stay alive until it ends, and the collector's passes over them were a third of
    the time of a large schema's parse. The usual thresholds come back once the last of
    the compiles running at the same time ends."""
    with _collections_lock:
        if not _compiling:
            _saved_thresholds[:] = gc.get_threshold()
            gc.set_threshold(100_000, 50, 1000)
        _compiling.append(None)
    try:
        yield
    finally:
        with _collections_lock:
            _compiling.pop()
            if not _compiling:
                gc.set_threshold(*_saved_thresholds)


_collections_lock = threading.Lock()
_compiling: list[None] = []  # one entry per compile running now
_saved_thresholds: list[int] = []


def _compile(path: Path, endpoint: str | None) -> Compiled:
    # The generators are imported here, not with the module: `sfidl check` (check_file)
    # needs none of them, and jinja2 alone is a tenth of a second of its start-up.
    from sfidl.gen.module_yaml import render_module_yaml, render_playground_module_yaml
    from sfidl.gen.proto import render_proto
    from sfidl.gen.protoc import compile_protos
    from sfidl.gen.stubs import render_stubs

    loaded = load_program(path)
    program = loaded.program
    if endpoint is not None:
        program = dataclasses.replace(program, endpoint=endpoint)
    protos = {source.proto_file: render_proto(source) for source in program.files}
    files = {name: text.encode() for name, text in protos.items()}
    files.update(compile_protos(protos))
    files[f"{program.stubs_module}.py"] = render_stubs(program).encode()
    files["module.yaml"] = render_module_yaml(program).encode()
    files["module.playground.yaml"] = render_playground_module_yaml(program).encode()
    return Compiled(program, files, loaded.warnings, dict(loaded.sources))
