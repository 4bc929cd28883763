"""Reading the old version: a .sfidl file, or a file and its imports from git history."""

from __future__ import annotations

import os
import posixpath
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sfidl.frontend import LoadedProgram
from sfidl.parse import parse


class BadInput(Exception):
    """The old version cannot be read (not a git repository, unknown revision, no file)."""


@dataclass(frozen=True)
class OldVersion:
    """The old program, and how to show the paths of its files."""

    loaded: LoadedProgram
    prefix: str = ""  # the temporary folder git's files were written to
    ref: str = ""

    def label(self, path: str) -> str:
        """``main:shop.sfidl`` for a file read from git; a file's path otherwise."""
        return git_label(self.prefix, self.ref, path)


def git_label(prefix: str, ref: str, path: str) -> str:
    """``path`` under the temporary folder ``prefix`` shown as ``REF:path`` (others as they are)."""
    if prefix and path.startswith(prefix):
        return f"{ref}:{path[len(prefix):]}"
    return path


@contextmanager
def from_git(new_file: Path, ref: str) -> Iterator[tuple[Path, str]]:
    """Write ``new_file`` and its imports as of ``ref`` into a temporary folder.

    Yields the old root file's path there and the folder's path as a prefix of the
    paths the compiler shows (for :class:`OldVersion`); raises :class:`BadInput` when
    git cannot give the file.
    """
    if ref.startswith("-"):
        raise BadInput(f"--against-git {ref!r}: a revision cannot start with `-`")
    root = _git(new_file.resolve().parent, "rev-parse", "--show-toplevel")
    if root is None:
        raise BadInput(f"{new_file} is not in a git repository (needed by --against-git)")
    top = Path(root.decode().strip()).resolve()
    if _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is None:
        raise BadInput(f"--against-git {ref!r}: no such commit in {top}")
    relative = PurePosixPath(new_file.resolve().relative_to(top).as_posix())
    with tempfile.TemporaryDirectory(prefix="sfidl-breaking-") as name:
        folder = Path(name).resolve()
        if not _copy(top, ref, relative, folder, set()):
            raise BadInput(f"{relative} does not exist at {ref}")
        yield folder / relative, f"{folder}{os.sep}"


def _copy(top: Path, ref: str, path: PurePosixPath, folder: Path, seen: set[str]) -> bool:
    """Copy ``path`` and (recursively) what it imports; False when ``path`` is not at ``ref``."""
    if str(path) in seen:
        return True
    seen.add(str(path))
    data = _git(top, "show", f"{ref}:{path}")
    if data is None:
        return False
    target = folder / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    parsed = parse(data.decode("utf-8", "replace"), str(path))
    for statement in parsed.file.imports if parsed.file else ():
        imported = posixpath.normpath(posixpath.join(str(path.parent), statement.path.value))
        if not imported.startswith("../") and imported != "..":
            # A missing import is reported by the compiler, at the import.
            _copy(top, ref, PurePosixPath(imported), folder, seen)
    return True


def _git(cwd: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError:
        raise BadInput("--against-git needs git on the PATH") from None
    return done.stdout if done.returncode == 0 else None
