"""Writing generated files as one set: killed at any moment, a write leaves the old set, or a
move into the new set that the next write completes before anything else.

Everything sfidl keeps in an output folder ``DIR`` lives in ``DIR/.sfidl-outputs/``:

- ``manifest.json``: the name and SHA-256 of every file of the set now in ``DIR``, so that a
  later set can remove the files it no longer produces (and only those, unchanged), and
  what the writer says the set was made from (``sfidl run`` records its inputs there, to
  start without compiling again when nothing changed: :func:`made_from`);
- ``staging-*/``: a write in progress (``files/`` and its ``manifest.json``), never read;
- ``switch/``: a staged set the writer committed to, whose files are being moved into ``DIR``;
- ``.gitignore``: ``*``, as this is a record of one folder's history, not source.

A write takes an exclusive lock on that folder, finishes or discards what an interrupted
write left (:func:`recover`), writes every file and the manifest into a fresh staging folder
and fsyncs them, then renames the staging folder to ``switch`` (the commit point: one atomic
rename), moves each file into ``DIR``, deletes the dropped ones, and moves the manifest last.
A kill before the commit leaves ``DIR`` untouched (the old set); a kill after it leaves
``switch`` on disk, and the next write finishes the move before it does anything else. Only
during that move, a handful of renames inside one folder, can a reader of ``DIR`` see files of
both sets.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from contextlib import contextmanager
from pathlib import Path

STATE = ".sfidl-outputs"
_MANIFEST = "manifest.json"
_FILES = "files"
_SWITCH = "switch"
_STAGING = "staging-"
_IGNORE_EVERYTHING = b"# sfidl's record of the files it wrote in this folder\n*\n"


def write_outputs(
    directory: Path, files: Mapping[str, bytes], made_from: Mapping[str, Any] | None = None
) -> list[Path]:
    """Replace the set of generated files in ``directory`` with ``files`` (name -> content).

    Everything is generated before this is called, so a compile error never gets here.
    Files of the previous set that ``files`` does not hold are deleted if nobody changed
    them; other files in ``directory`` are left alone. New files get the mode ``open()``
    would give them (``0o666`` less the umask). Raises ``OSError`` when ``directory``
    cannot be written; an interrupted write is finished or rolled back by the next one.
    ``made_from`` (JSON data) is kept in the manifest, for :func:`made_from` to read back.
    """
    for name in files:
        _check_name(name)
    state = directory / STATE
    state.mkdir(parents=True, exist_ok=True)
    with _locked(state):
        _recover(directory)
        _remove_old_temporaries(directory, files)
        staging = _stage(state, files, made_from)
        os.rename(staging, state / _SWITCH)
        _fsync_folder(state)
        _finish_switch(directory)
    return [directory / name for name in sorted(files)]


def recover(directory: Path) -> None:
    """Finish or discard what an interrupted write left in ``directory`` (every write does it first).

    A committed switch is completed, so ``directory`` holds the whole new set; an
    uncommitted staging folder is deleted, so it keeps the whole old set.
    """
    state = directory / STATE
    if state.is_dir():
        with _locked(state):
            _recover(directory)


def _recover(directory: Path) -> None:
    state = directory / STATE
    if (state / _SWITCH).exists():
        _finish_switch(directory)
    for entry in state.iterdir():
        if entry.name.startswith(_STAGING):
            shutil.rmtree(entry)
    ignore = state / ".gitignore"
    if not ignore.is_file() or ignore.read_bytes() != _IGNORE_EVERYTHING:
        ignore.write_bytes(_IGNORE_EVERYTHING)


def _remove_old_temporaries(directory: Path, names: Iterable[str]) -> None:
    """What earlier sfidl versions, which wrote each file via ``.<name>.<random>.tmp``, left."""
    for name in names:
        for leftover in glob.glob(glob.escape(str(directory / f".{name}.")) + "*.tmp"):
            os.unlink(leftover)


def made_from(directory: Path) -> dict[str, Any] | None:
    """What the last write said its set was made from, if every file of that set is in
    ``directory`` unchanged; else None (a file edited, removed or half written, no record)."""
    state = directory / STATE
    if not state.is_dir():
        return None
    with _locked(state):
        _recover(directory)
        try:
            manifest = json.loads((state / _MANIFEST).read_bytes())
        except (OSError, ValueError):
            return None
        record = manifest.get("made_from") if isinstance(manifest, dict) else None
        files = _read_manifest(state / _MANIFEST)
        if not isinstance(record, dict) or not files:
            return None
        if any(_digest(directory / name) != digest for name, digest in files.items()):
            return None
        return record


def _stage(state: Path, files: Mapping[str, bytes], made_from: Mapping[str, Any] | None) -> Path:
    """A new staging folder holding every file and the manifest, all on disk (fsynced)."""
    staging = Path(tempfile.mkdtemp(prefix=_STAGING, dir=state))
    try:
        (staging / _FILES).mkdir()
        for name, content in sorted(files.items()):
            _write_new(staging / _FILES / name, content)
        _fsync_folder(staging / _FILES)
        digests = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
        record: dict[str, Any] = {"files": digests}
        if made_from is not None:
            record["made_from"] = made_from
        manifest = json.dumps(record, indent=1, sort_keys=True) + "\n"
        _write_new(staging / _MANIFEST, manifest.encode())
        _fsync_folder(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _finish_switch(directory: Path) -> None:
    """Move a committed set into ``directory``; safe to repeat after a kill at any step."""
    state = directory / STATE
    switch = state / _SWITCH
    new = _read_manifest(switch / _MANIFEST)
    if new is None:  # the manifest moved last, so the switch was complete
        shutil.rmtree(switch)
        return
    old = _read_manifest(state / _MANIFEST) or {}
    for name in sorted(new):
        try:
            os.replace(switch / _FILES / name, directory / name)
        except FileNotFoundError:  # moved before the kill
            pass
    for name, digest in sorted(old.items()):
        if name not in new and _digest(directory / name) == digest:
            os.unlink(directory / name)
    _fsync_folder(directory)
    os.replace(switch / _MANIFEST, state / _MANIFEST)
    _fsync_folder(state)
    shutil.rmtree(switch)


def _read_manifest(path: Path) -> dict[str, str] | None:
    """Name -> SHA-256 from a manifest; None when there is none or it is not one sfidl wrote."""
    try:
        files = json.loads(path.read_bytes())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, dict):
        return None
    return {
        name: digest
        for name, digest in files.items()
        if isinstance(digest, str) and _is_plain_name(name)
    }


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _write_new(path: Path, content: bytes) -> None:
    # open() creates with 0o666 less the umask (and any default ACL), without reading the umask.
    with open(path, "xb") as stream:
        stream.write(content)
        stream.flush()
        os.fsync(stream.fileno())


def _fsync_folder(path: Path) -> None:
    """Make the entries created, renamed or removed in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked(state: Path) -> Iterator[None]:
    """Hold the folder's lock: two writers never stage or switch in one folder at once.

    A killed holder's lock is released by the kernel with its file descriptors.
    """
    fd = os.open(state, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _is_plain_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and name not in ("", ".", "..", STATE)
        and not any(c in name for c in "/\\\0")
    )


def _check_name(name: str) -> None:
    if not _is_plain_name(name):
        raise ValueError(f"not a plain file name for an output folder: {name!r}")
