"""Ingress records into queued messages: playground-style HTTP requests and JSON-lines files.

Kafka and Kinesis ingresses of the manifest map onto these: the record key becomes the
function id and the value's typename is the ingress's message type (docs/statefun.md#ingress).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from google.protobuf import json_format
from google.protobuf.message import Message

from sfidl.local import codec
from sfidl.local.errors import IngressError
from sfidl.local.records import Address
from sfidl.local.store import Incoming
from sfidl.runtime.manifest import IngressManifest, Manifest
from sfidl.runtime.types import typed_message, typed_value
from sfidl.wire import JSON_SUFFIX, PROTOBUF_TYPENAME_PREFIX, STATE_SCALARS, is_typename

VND = "application/vnd."
# What the playground image reads a body as when no Content-Type names a typename.
PLAYGROUND_DEFAULT_TYPENAME = STATE_SCALARS["string"].typename


def message_value(message: Message) -> bytes:
    """A protobuf message as a serialized ``TypedValue`` (``make_protobuf_type``'s typename)."""
    out: bytes = typed_message(message).SerializeToString()
    return out


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
        Address.of(ingress.target, key),
        None,
        typed_value(ingress.value_typename, data).SerializeToString(),
    )


@runtime_checkable
class DeclaresIngress(Protocol):
    """An application that says what each function takes from an ingress (sfidl's ``Application``).

    Optional: with it, the ingress refuses a message no handler of its target takes, instead
    of queueing it to be dead-lettered.
    """

    def ingress_typenames(self, typename: str) -> frozenset[str]:
        """The message typenames function type ``typename`` takes from an ingress."""
        ...


Takes = Callable[[str], frozenset[str]]
"""Function typename -> the message typenames it takes from an ingress."""


def address_of_path(path: str) -> Address:
    """The target of a playground ingress request, ``/<namespace>/<type>/<id>``, split as the
    image splits it (Java's ``split("/")``: trailing empty parts are dropped, so a final ``/``
    is ignored)."""
    parts = path[1:].split("/")
    while parts and not parts[-1]:
        parts.pop()
    if len(parts) != 3:
        raise IngressError(
            f"{path}: send messages to /<namespace>/<type>/<id> (three parts)", status=404
        )
    return Address(*parts)


def typename_of_request(content_types: Sequence[str]) -> str:
    """The typename the playground image reads from a request: everything after
    ``application/vnd.`` in the first Content-Type that starts with it (case and parameters
    as sent), else its default, ``io.statefun.types/string``."""
    for value in content_types:
        if value.startswith(VND):
            return value[len(VND) :]
    return PLAYGROUND_DEFAULT_TYPENAME


def from_http(
    target: Address, content_types: Sequence[str], body: bytes, takes: Takes | None = None
) -> Incoming:
    """A playground ingress request: ``<any method> /<namespace>/<type>/<id>`` with
    ``Content-Type: application/vnd.<typename>``; the body is the value, passed on as is.

    Refused (:class:`IngressError`) when the target's handlers take no such typename (with
    ``takes``) or the body is not a value of it: what the image would queue and the function
    set aside.
    """
    typename = typename_of_request(content_types)
    taken = None if takes is None else takes(target.typename)
    if taken is None or typename not in taken:  # (one a handler takes is UTF-8)
        if not is_utf8(typename):
            raise IngressError(
                f"the typename in the Content-Type, {typename!r}, is not UTF-8", status=415
            )
        if taken is not None:
            raise IngressError(_not_taken(target, typename, taken), status=415)
        _check_typename(typename, status=415)
    _check_body(typename, body)
    return Incoming(target, None, typed_value(typename, body).SerializeToString())


def is_utf8(text: str) -> bool:
    """Whether ``text`` came from valid UTF-8 (aiohttp decodes header bytes that are not to surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_taken(target: Address, typename: str, taken: frozenset[str]) -> str:
    why = f"no handler of {target.typename} takes {typename!r} from an ingress"
    if typename == PLAYGROUND_DEFAULT_TYPENAME:
        why += (
            " (no Content-Type application/vnd.<typename> was sent, and the playground then"
            f" reads the body as {PLAYGROUND_DEFAULT_TYPENAME})"
        )
    elif ";" in typename:
        why += (
            " (everything after application/vnd. is the typename, parameters included:"
            " drop the ;...)"
        )
    protobuf = sorted(name for name in taken if not name.endswith(JSON_SUFFIX))
    if not protobuf:
        return f"{why}; it takes nothing from an ingress (request/reply handlers are called by functions)"
    return (
        f"{why}; it takes {', '.join(protobuf)}"
        f" (protobuf bytes; with {JSON_SUFFIX} after the typename, proto3 JSON)"
    )


# Typename -> its protobuf class, once found (the pool only grows): a descriptor pool lookup
# per request otherwise.
_classes: dict[str, type[Message]] = {}


def _message_class(typename: str) -> type[Message] | None:
    found = _classes.get(typename)
    if found is None:
        found = codec.message_class(typename)
        if found is not None:
            _classes[typename] = found
    return found


def _check_body(typename: str, body: bytes) -> None:
    """Refuse a body that the function could never decode as ``typename``."""
    json_of = (
        _message_class(typename[: -len(JSON_SUFFIX)]) if typename.endswith(JSON_SUFFIX) else None
    )
    if json_of is not None:
        try:
            # What the function side does (sfidl.runtime.dispatch): the same parser, as strict.
            json_format.Parse(body.decode("utf-8"), json_of())
        except (json_format.ParseError, UnicodeDecodeError) as exc:
            raise IngressError(
                f"malformed JSON body for {json_of.DESCRIPTOR.full_name}: {exc}"
            ) from None
        return
    cls = _message_class(typename)
    if cls is None:  # not a protobuf message: nothing to check (as codec.check)
        return
    try:
        codec.parse(cls, body)
    except codec.CodecError as exc:
        hint = ""
        if body.lstrip().startswith(b"{"):
            hint = (
                f" (a JSON body? send it as Content-Type: application/vnd.{typename}{JSON_SUFFIX})"
            )
        raise IngressError(f"malformed body: {exc}{hint}") from None


def _check_typename(typename: str, status: int) -> None:
    """What StateFun's ``TypeName.parseFrom`` accepts, and protobuf types only when loaded."""
    if not is_typename(typename):
        raise IngressError(
            f"{typename!r} is not a typename of the form namespace/name", status=status
        )
    base = typename.removesuffix(JSON_SUFFIX)
    if base.startswith(PROTOBUF_TYPENAME_PREFIX) and not codec.is_known(base):
        raise IngressError(
            f"unknown message type {typename!r}: no such protobuf message is loaded", status=status
        )


def from_json_line(manifest: Manifest, line: str, takes: Takes | None = None) -> Incoming:
    """One JSON-lines record.

    ``{"ingress": "<ingress name or id>", "key": "...", "value": {...}}`` or
    ``{"target": "ns/type/id", "typename": "...", "value": ...}`` (the value in proto3 JSON,
    refused with ``takes`` when no handler of the target takes ``typename``).
    """
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:
        problem = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise IngressError(f"not JSON: {problem}") from None
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
        target = Address(namespace, type_, id)
        if takes is not None and typename not in takes(target.typename):
            raise IngressError(_not_taken(target, typename, takes(target.typename)))
        _check_typename(typename, status=400)
        value = _encode(typename, record["value"])
        _check_body(typename, value)
        return Incoming(target, None, typed_value(typename, value).SerializeToString())
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
    takes: Takes | None = None,
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
                    messages.append(from_json_line(manifest, text, takes))
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
