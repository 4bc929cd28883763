"""Egress output: records decoded with the egress's message class, written to JSON-lines files or stdout,
or read over HTTP (:mod:`sfidl.local.server`) as the StateFun playground image's egress answers them.

The records themselves live in SQLite (committed with the batch that wrote them). A file
sink writes each record's sequence number on its line and, on start, resumes after the
last complete line, so a killed runtime neither loses nor repeats a record in the files.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

from sfidl.local import codec
from sfidl.local.records import EgressRecord
from sfidl.local.store import Store, StoredEgress
from sfidl.runtime.manifest import EgressManifest, Manifest


def find_egress(manifest: Manifest, name: str) -> EgressManifest | None:
    """An egress by typename, by name alone, or by its topic/stream."""
    for egress in manifest.egresses:
        if name in (egress.typename, egress.typename.rpartition("/")[2], egress.sink):
            return egress
    return None


@dataclass(frozen=True)
class Reader:
    """What ``GET /<name>`` on the egress port reads: a topic's records, or one egress's of it."""

    topic: str
    egress: str | None  # an egress typename: only its records; None: every record of the topic


def reader(manifest: Manifest, name: str) -> Reader | None:
    """The records ``name`` reads: a declared topic or stream first (as on the playground image,
    where every egress writing it shares it), else an egress by name or typename."""
    if any(egress.sink == name for egress in manifest.egresses):
        return Reader(name, None)
    for egress in manifest.egresses:
        if name in (egress.typename, egress.typename.rpartition("/")[2]):
            return Reader(egress.sink, egress.typename)
    return None


def shared_topics(manifest: Manifest) -> dict[str, list[str]]:
    """Each topic or stream written by more than one egress, with their typenames."""
    writers: dict[str, list[str]] = {}
    for egress in manifest.egresses:
        writers.setdefault(egress.sink, []).append(egress.typename)
    return {topic: names for topic, names in writers.items() if len(names) > 1}


def payload(manifest: Manifest, row: StoredEgress) -> bytes:
    """A record's payload as the playground image's egress answers it for an sfidl application:
    the message's proto3 JSON with the .proto field names, exactly as ``Application(playground=True)``
    writes it (the stored bytes as they are if they do not decode)."""
    text = _payload_json(manifest, row)
    return row.value if text is None else text


def payload_line(manifest: Manifest, row: StoredEgress) -> bytes:
    """A record as one line of a batch read (``?max=N``), newline included: its :func:`payload`,
    or its envelope (:func:`to_json`, with ``error``) when the stored bytes do not decode, as
    those bytes may hold a newline or not be JSON: every line is one JSON value."""
    text = _payload_json(manifest, row)
    if text is None:
        return envelope_line(manifest, row).encode("utf-8")
    return text + b"\n"


def envelope_line(manifest: Manifest, row: StoredEgress) -> str:
    """A record's envelope (:func:`to_json`) as one line of HTTP answer, newline included."""
    return json.dumps(to_json(manifest, row), ensure_ascii=False) + "\n"


def _payload_json(manifest: Manifest, row: StoredEgress) -> bytes | None:
    """The message's proto3 JSON on one line, as ``playground=True`` writes it (None: the stored
    bytes do not decode)."""
    declared = manifest.egress(row.egress)
    if declared is None:
        return None
    message = declared.message()
    try:
        message.ParseFromString(row.value)
    except DecodeError:
        return None
    if _flat(declared.message.DESCRIPTOR):
        # What json.dumps writes (ensure_ascii, ", " and ": "), without its set-up per call.
        fields = [(field.name, _scalar(value)) for field, value in message.ListFields()]
        if all(text is not None for _, text in fields):
            return ("{" + ", ".join(f'"{name}": {text}' for name, text in fields) + "}").encode()
    text: str = json_format.MessageToJson(message, indent=None, preserving_proto_field_name=True)
    return text.encode("utf-8")


_quote = json.encoder.encode_basestring_ascii  # json.dumps's for strings, with ensure_ascii


def _scalar(value: object) -> str | None:
    """A string, boolean or integer as json.dumps writes it; None for anything else (a proto2
    string is not checked as UTF-8 when parsed: one that is not comes as bytes)."""
    if type(value) is str:
        return _quote(value)
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        return repr(value)
    return None


# The field types whose proto3 JSON is the Python value itself (as json_format writes them).
_AS_IS = frozenset(
    {FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_BOOL}
)


@functools.cache
def _flat(descriptor: Descriptor) -> bool:
    """Whether ``MessageToJson`` of a ``descriptor`` message is what json.dumps writes of its
    set fields, by name, as they are: a plain message (not a well-known type) of single
    strings, 32-bit integers and booleans. Its records are written field by field
    (:func:`payload`), where json_format walks every field's descriptor in Python: about a
    fifth of the time for a greeter's record."""
    if descriptor.full_name.startswith("google.protobuf.") or descriptor.extension_ranges:
        return False
    return all(
        not field.is_repeated
        and (
            field.cpp_type in _AS_IS
            or (
                field.cpp_type == FieldDescriptor.CPPTYPE_STRING
                and field.type == FieldDescriptor.TYPE_STRING
            )
        )
        for field in descriptor.fields
    )


def decode(manifest: Manifest, row: StoredEgress) -> EgressRecord:
    """A stored record with its value parsed by the egress's message class."""
    declared = manifest.egress(row.egress)
    if declared is None:
        raise LookupError(f"egress {row.egress!r} is not in the application's manifest")
    value = declared.message()
    value.ParseFromString(row.value)
    return EgressRecord(row.egress, row.topic, row.key, value)


def to_json(manifest: Manifest, row: StoredEgress) -> dict[str, Any]:
    """A record as JSON (``seq`` is the runtime's sequence number, unique and increasing)."""
    out: dict[str, Any] = {"seq": row.seq, "egress": row.egress, "topic": row.topic, "key": row.key}
    try:
        out["value"] = codec.to_json(decode(manifest, row).value)
    except (DecodeError, LookupError) as exc:
        out["value"] = codec.to_json(row.value)
        out["error"] = f"cannot decode the value: {exc}"
    return out


def _line(manifest: Manifest, row: StoredEgress) -> str:
    return json.dumps(to_json(manifest, row), ensure_ascii=False, sort_keys=True) + "\n"


class FileSink:
    """One ``<topic>.jsonl`` per topic or stream in a folder."""

    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self._folder = folder
        self._manifest = manifest
        self._last: dict[str, int] = {}

    def path(self, topic: str) -> Path:
        return self._folder / (re.sub(r"[^A-Za-z0-9._-]", "_", topic) + ".jsonl")

    def catch_up(self, store: Store) -> None:
        """Trim a torn last line from each file, then write what the files miss.

        A topic without a file yet misses everything: a crash can come after one file got a
        record and before another file was created for an earlier one.
        """
        self._folder.mkdir(parents=True, exist_ok=True)
        for path in self._folder.glob("*.jsonl"):
            self._last[path.name] = _resume(path)
        start = min(
            (self._last.get(self.path(topic).name, 0) for topic in store.egress_topics()),
            default=0,
        )
        self.write(store.egress_after(start))

    def write(self, rows: Sequence[StoredEgress]) -> None:
        files: dict[str, TextIO] = {}
        try:
            for row in rows:
                path = self.path(row.topic)
                if row.seq <= self._last.get(path.name, 0):
                    continue
                if path.name not in files:
                    files[path.name] = path.open("a", encoding="utf-8")
                files[path.name].write(_line(self._manifest, row))
                self._last[path.name] = row.seq
        finally:
            for f in files.values():
                f.close()


def _resume(path: Path) -> int:
    """The ``seq`` of the last complete line of ``path``, after cutting off a torn last line."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with path.open("r+b") as f:
            f.truncate(end)
    lines = data[:end].splitlines()
    if not lines:
        return 0
    seq = json.loads(lines[-1]).get("seq", 0)
    return int(seq)


class StdoutSink:
    """Prints each record as a JSON line (after its batch committed; a crash may drop the last few lines)."""

    def __init__(self, manifest: Manifest, stream: TextIO | None = None) -> None:
        self._manifest = manifest
        self._stream = stream

    def write(self, rows: Sequence[StoredEgress]) -> None:
        stream = self._stream or sys.stdout
        for row in rows:
            stream.write(_line(self._manifest, row))
        stream.flush()
