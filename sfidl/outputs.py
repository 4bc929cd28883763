"""Writing generated files so that a failed or interrupted compile leaves earlier outputs intact."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def write_outputs(directory: Path, files: Mapping[str, bytes]) -> list[Path]:
    """Write every file under ``directory``, each replaced atomically.

    Everything is generated before this is called, so a compile error never gets here.
    Each file is first written in full to a temporary file in the same folder and then
    renamed over the old one: a reader sees the old or the new file, never half of one.
    """
    mode = 0o666 & ~_umask()  # what open() would give; mkstemp alone makes files 0600
    written = []
    for name, content in sorted(files.items()):
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as stream:
                stream.write(content)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
