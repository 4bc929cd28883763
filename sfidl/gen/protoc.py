"""The protoc step: generated .proto text in, ``_pb2.py`` and ``_pb2.pyi`` out, all in memory.

protoc is the one bundled in grpcio-tools (no system protoc) and the stubs come from
mypy-protobuf: grpcio-tools' own ``--pyi_out`` stubs fail ``mypy --strict``.

Both run in this process, with no extra interpreter (two interpreter start-ups were most
of a small compile): protoc writes the ``_pb2.py`` modules and a descriptor set, and
mypy-protobuf's generator is handed the ``CodeGeneratorRequest`` protoc would have sent
its plugin, built from that descriptor set. protoc writes its errors straight to file
descriptor 2, so while it runs that descriptor points at a temporary file (one protoc at a
time); whatever else was written there meanwhile is passed on afterwards.
"""

from __future__ import annotations

import inspect
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath


class ProtocError(Exception):
    """protoc rejected what sfidl generated: a bug in sfidl, not in the user's input.

    The message carries protoc's stderr, which names the offending .proto lines.
    """


_STDERR = 2
_protoc_lock = threading.Lock()  # file descriptor 2 is process-wide: one protoc at a time


def compile_protos(protos: Mapping[str, str]) -> dict[str, bytes]:
    """Compile .proto files (name -> text) into their Python modules and stubs.

    Returns output name -> content: ``x_pb2.py`` and ``x_pb2.pyi`` for every input
    ``x.proto`` (in the same folder as the input, for a name with folders). Well-known
    types (``google/protobuf/*.proto``) resolve against the copies inside grpcio-tools.
    Nothing is left on disk.
    """
    names = sorted(protos)
    for name in names:
        _check_name(name)
    with tempfile.TemporaryDirectory(prefix="sfidl-protoc-") as scratch:
        source, out = Path(scratch, "src"), Path(scratch, "out")
        for name in names:
            path = source / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(protos[name], encoding="utf-8")
        out.mkdir()
        descriptors = Path(scratch, "descriptors.pb")
        _run_protoc(
            source,
            [
                f"--proto_path={source}",
                f"--proto_path={_well_known_types()}",
                f"--python_out={out}",
                f"--descriptor_set_out={descriptors}",
                "--include_imports",
                "--include_source_info",
                *(str(source / name) for name in names),
            ],
        )
        files = {
            p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }
        files.update(_mypy_stubs(descriptors.read_bytes(), names))
        return dict(sorted(files.items()))


def _run_protoc(cwd: Path, arguments: list[str]) -> None:
    from grpc_tools import _protoc_compiler  # type: ignore[import-untyped]  # protoc.main's

    with _protoc_lock, _stderr_into() as captured:
        status = _protoc_compiler.run_main([b"protoc", *(a.encode() for a in arguments)])
    if status != 0:
        # protoc names the files by the path it was given: show them as sfidl names them.
        message = captured.decode(errors="replace").replace(f"{cwd}{os.sep}", "").strip()
        raise ProtocError(
            "protoc rejected the .proto files sfidl generated (a bug in sfidl, please report it):\n"
            + (message or f"protoc exited with status {status}")
        )
    if captured:  # protoc's warnings, or what another thread wrote meanwhile
        sys.stderr.write(captured.decode(errors="replace"))


@contextmanager
def _stderr_into() -> Iterator[bytearray]:
    """Point file descriptor 2 at a temporary file; yields what was written there."""
    captured = bytearray()
    sys.stderr.flush()
    saved = os.dup(_STDERR)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), _STDERR)
        try:
            yield captured
        finally:
            os.dup2(saved, _STDERR)
            os.close(saved)
            sink.seek(0)
            captured += sink.read()


def _mypy_stubs(descriptor_set: bytes, names: list[str]) -> dict[str, bytes]:
    """Run mypy-protobuf's generator on the request protoc would send its ``--mypy_out``
    plugin (with the ``quiet`` parameter), returning its files."""
    from google.protobuf.compiler import plugin_pb2
    from google.protobuf.descriptor_pb2 import FileDescriptorSet
    from mypy_protobuf.main import (  # type: ignore[import-untyped]
        Descriptors,
        generate_mypy_stubs,
    )

    files = FileDescriptorSet.FromString(descriptor_set).file
    request = plugin_pb2.CodeGeneratorRequest(
        file_to_generate=names, parameter="quiet", proto_file=files
    )
    response = plugin_pb2.CodeGeneratorResponse()
    # The flags after (descriptors, response), in the order main() passes them: quiet on,
    # every other option off, however many this version of mypy-protobuf has.
    flags = [name == "quiet" for name in list(inspect.signature(generate_mypy_stubs).parameters)]
    generate_mypy_stubs(Descriptors(request), response, *flags[2:])
    if response.error:
        raise ProtocError(f"mypy-protobuf failed on the .proto files sfidl made: {response.error}")
    return {f.name: f.content.encode() for f in response.file}


def _check_name(name: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or path.suffix != ".proto" or "\\" in name:
        raise ValueError(f"not a relative .proto file name: {name!r}")


def _well_known_types() -> Path:
    """The folder holding ``google/protobuf/*.proto`` inside grpcio-tools.

    Found beside the package's ``__init__`` (grpcio-tools is installed as plain files: its
    extension module could not be imported from a zip), not through ``importlib.resources``,
    whose import and readers (zipfile among them) cost about a small compile's parse.
    """
    import grpc_tools

    return Path(grpc_tools.__file__).parent / "_proto"
