"""Ingress records into queued messages: playground-style HTTP requests and JSON-lines files.

Kafka and Kinesis ingresses of the manifest map onto these: the record key becomes the
function id and the value's typename is the ingress's message type (STATEFUN.md §2.5).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from statefun.request_reply_pb2 import TypedValue

from sfidl.local import codec
from sfidl.local.errors import IngressError
from sfidl.local.records import Address
from sfidl.local.store import Incoming
from sfidl.runtime.manifest import IngressManifest, Manifest
from sfidl.runtime.types import PROTOBUF_TYPENAME_PREFIX, is_typename, typename_of

VND = "application/vnd."
JSON_SUFFIX = "+json"


def typed_value(typename: str, data: bytes) -> bytes:
    """A serialized ``TypedValue`` holding ``data``."""
    value = TypedValue(typename=typename, has_value=True, value=data)
    out: bytes = value.SerializeToString()
    return out


def message_value(message: Message) -> bytes:
    """A protobuf message as a serialized ``TypedValue`` (``make_protobuf_type``'s typename)."""
    return typed_value(typename_of(type(message)), message.SerializeToString())


def find_ingress(manifest: Manifest, name: str) -> IngressManifest:
    """An ingress by its typename (``ns/name``) or its name alone."""
    for ingress in manifest.ingresses:
        if name in (ingress.typename, ingress.typename.rpartition("/")[2]):
            return ingress
    known = ", ".join(i.typename for i in manifest.ingresses) or "none"
    raise IngressError(f"unknown ingress {name!r} (declared: {known})", status=404)


def from_ingress(ingress: IngressManifest, key: str, data: bytes) -> Incoming:
    """A record of ``ingress``: the key is the target's id, the value is of the ingress's message type."""
    return Incoming(
        Address.of(ingress.target, key), None, typed_value(ingress.value_typename, data)
    )


def from_http(
    namespace: str, type_: str, id: str, content_type: str | None, body: bytes
) -> Incoming:
    """A playground ingress request: ``POST /<namespace>/<type>/<id>``, ``Content-Type: application/vnd.<typename>``."""
    mime = (content_type or "").split(";")[0].strip()
    if not mime.lower().startswith(VND):
        raise IngressError(
            f"Content-Type {mime or '(none)'!r} does not name the message type;"
            " send Content-Type: application/vnd.<typename>, e.g. application/vnd.type.googleapis.com/pkg.Message",
            status=415,
        )
    typename = mime[len(VND) :]
    as_json = typename.endswith(JSON_SUFFIX)
    if as_json:
        typename = typename[: -len(JSON_SUFFIX)]
    _check_typename(typename, status=415)
    target = Address(namespace, type_, id)
    if as_json or (codec.is_known(typename) and _looks_like_json(body)):
        return Incoming(target, None, typed_value(typename, _json_bytes(typename, body)))
    try:
        codec.check(typename, body)
    except codec.CodecError as exc:
        raise IngressError(f"malformed body: {exc}") from None
    return Incoming(target, None, typed_value(typename, body))


def _check_typename(typename: str, status: int) -> None:
    """What StateFun's ``TypeName.parseFrom`` accepts, and protobuf types only when loaded."""
    if not is_typename(typename):
        raise IngressError(
            f"{typename!r} is not a typename of the form namespace/name", status=status
        )
    if typename.startswith(PROTOBUF_TYPENAME_PREFIX) and not codec.is_known(typename):
        raise IngressError(
            f"unknown message type {typename!r}: no such protobuf message is loaded", status=status
        )


def _looks_like_json(body: bytes) -> bool:
    """A JSON object: a message's JSON is one, and its protobuf bytes never start with ``{``.

    (0x7B would open a group, field 15, and proto3 has no groups; a bare number or string
    that happens to parse as JSON, like b"85", is protobuf and stays protobuf.)
    """
    if not body.startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


def _json_bytes(typename: str, body: bytes) -> bytes:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise IngressError(f"malformed JSON body: {exc}") from None
    if not codec.is_known(typename):
        return body  # a make_json_type value: the JSON text is the value
    try:
        return codec.from_json(typename, value)
    except codec.CodecError as exc:
        raise IngressError(f"malformed body: {exc}") from None


def from_json_line(manifest: Manifest, line: str) -> Incoming:
    """One JSON-lines record.

    ``{"ingress": "<ingress name or id>", "key": "...", "value": {...}}`` or
    ``{"target": "ns/type/id", "typename": "...", "value": ...}``.
    """
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise IngressError(f"not JSON: {exc}") from None
    if not isinstance(record, dict) or "value" not in record:
        raise IngressError(
            'expected an object with "value" and either "ingress" and "key" or "target" and "typename"'
        )
    if "ingress" in record:
        ingress = find_ingress(manifest, _field(record, "ingress"))
        return from_ingress(
            ingress, _field(record, "key"), _encode(ingress.value_typename, record["value"])
        )
    if "target" in record:
        namespace, _, rest = _field(record, "target").partition("/")
        type_, _, id = rest.partition("/")
        if not (namespace and type_ and id):
            raise IngressError(f"target {record['target']!r} is not of the form namespace/type/id")
        if f"{namespace}/{type_}" not in manifest.functions:
            known = ", ".join(manifest.functions)
            raise IngressError(f"unknown function type '{namespace}/{type_}' (known: {known})")
        typename = _field(record, "typename")
        _check_typename(typename, status=400)
        return Incoming(
            Address(namespace, type_, id),
            None,
            typed_value(typename, _encode(typename, record["value"])),
        )
    raise IngressError('a record needs "ingress" and "key", or "target" and "typename"')


def _field(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value:
        raise IngressError(f'"{name}" must be a non-empty string')
    return value


def _encode(typename: str, value: Any) -> bytes:
    try:
        return codec.from_json(typename, value)
    except codec.CodecError as exc:
        raise IngressError(f"bad value: {exc}") from None


async def follow_file(
    path: Path,
    manifest: Manifest,
    enqueue: Callable[[list[Incoming], str, int], object],
    start: int,
    *,
    follow: bool,
    room: Callable[[], Awaitable[None]] | None = None,
    poll_s: float = 0.2,
    chunk: int = 256,
) -> None:
    """Read ``path`` from byte ``start``, queueing up to ``chunk`` lines per transaction with the new offset.

    Only complete lines are read; with ``follow``, lines appended later are read too. Before
    each chunk it awaits ``room()`` (the engine's backpressure). A bad line stops with an
    :class:`IngressError` naming the file and line; the lines before it are queued, so a
    corrected file resumes at that line.
    """
    source = str(path.resolve())
    offset = start
    line_no = 0
    if path.exists():
        with path.open("rb") as f:
            line_no = f.read(start).count(b"\n")
    committed = start
    while True:
        data = b""
        if path.exists():
            with path.open("rb") as f:
                f.seek(offset)
                data = f.read()
        messages: list[Incoming] = []
        for raw in data[: data.rfind(b"\n") + 1].splitlines(keepends=True):
            line_no += 1
            text = raw.decode("utf-8", "replace").strip()
            if text:
                try:
                    messages.append(from_json_line(manifest, text))
                except IngressError as exc:
                    enqueue(messages, source, offset)
                    raise IngressError(f"{path}:{line_no}: {exc}") from None
            offset += len(raw)
            if len(messages) >= chunk:
                enqueue(messages, source, offset)
                committed = offset
                messages = []
                await asyncio.sleep(0)
                if room is not None:
                    await room()
        if offset != committed:  # an idle poll writes nothing
            enqueue(messages, source, offset)
            committed = offset
        if not follow:
            return
        await asyncio.sleep(poll_s)
