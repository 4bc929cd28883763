"""The protoc step: generated .proto text in, ``_pb2.py`` and ``_pb2.pyi`` out, all in memory.

protoc is the one bundled in grpcio-tools (no system protoc) and the stubs come from
mypy-protobuf: grpcio-tools' own ``--pyi_out`` stubs fail ``mypy --strict``.

``grpc_tools.protoc.main`` runs in a child interpreter rather than in-process. In-process
it is safe to call repeatedly, but protoc writes its errors straight to file descriptor 2
(capturing them would mean swapping the process-wide stderr under every other thread)
and a protoc abort would take the whole compiler down with it.
"""

from __future__ import annotations

import importlib.resources
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

# The child interpreter's program: protoc's argv[0] is ignored, the rest are its arguments.
_RUN_PROTOC = "import sys; from grpc_tools.protoc import main; sys.exit(main(sys.argv))"


class ProtocError(Exception):
    """protoc rejected what sfidl generated: a bug in sfidl, not in the user's input.

    The message carries protoc's stderr, which names the offending .proto lines.
    """


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
        plugin = _mypy_plugin(Path(scratch))
        arguments = [
            "--proto_path=.",  # relative, so protoc's messages name the files as we do
            f"--proto_path={_well_known_types()}",
            f"--python_out={out}",
            f"--plugin=protoc-gen-mypy={plugin}",
            f"--mypy_out=quiet:{out}",
            *names,
        ]
        # -P: the scratch folder (cwd) must not shadow any module of the child.
        result = subprocess.run(
            [sys.executable, "-P", "-c", _RUN_PROTOC, *arguments],
            cwd=source,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ProtocError(
                "protoc rejected the .proto files sfidl generated (a bug in sfidl, please report it):\n"
                + (result.stderr.strip() or f"protoc exited with status {result.returncode}")
            )
        return {
            p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }


def _check_name(name: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or path.suffix != ".proto" or "\\" in name:
        raise ValueError(f"not a relative .proto file name: {name!r}")


def _well_known_types() -> Path:
    """The folder holding ``google/protobuf/*.proto`` inside grpcio-tools."""
    return Path(str(importlib.resources.files("grpc_tools") / "_proto"))


def _mypy_plugin(scratch: Path) -> Path:
    """A protoc plugin running mypy-protobuf with this very interpreter.

    A wrapper rather than the ``protoc-gen-mypy`` console script, which need not sit on
    PATH or next to ``sys.executable`` (a ``--user`` install, an embedded interpreter).
    """
    plugin = scratch / "protoc-gen-mypy"
    plugin.write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -P -m mypy_protobuf.main "$@"\n'
    )
    plugin.chmod(0o700)
    return plugin
