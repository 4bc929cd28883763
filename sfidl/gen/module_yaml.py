"""StateFun 3.x ``module.yaml`` from the checked model.

The runtime reads a module as YAML documents, each ``{kind, spec}``, and silently ignores
keys it does not know (docs/statefun.md#moduleyaml), so a misspelt key is never an error
there: this module writes exactly the keys the runtime's binders read (listed there). Every
string that comes from the user is written as a double-quoted scalar made here, never by the
template, so no topic, URL or address can change the document's structure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sfidl.gen.templating import render_template
from sfidl.model import Egress, Ingress, IoKind, Program
from sfidl.wire import is_typename

DEFAULT_ENDPOINT = "http://localhost:8000/statefun"
DEFAULT_KAFKA_BROKERS = "kafka:9092"

ENDPOINT_KIND = "io.statefun.endpoints.v2/http"
ASYNC_TRANSPORT = "io.statefun.transports.v1/async"
KAFKA_INGRESS_KIND = "io.statefun.kafka.v1/ingress"
KAFKA_EGRESS_KIND = "io.statefun.kafka.v1/egress"
KINESIS_INGRESS_KIND = "io.statefun.kinesis.v1/ingress"
KINESIS_EGRESS_KIND = "io.statefun.kinesis.v1/egress"
PLAYGROUND_INGRESS_KIND = "io.statefun.playground.v1/ingress"
PLAYGROUND_EGRESS_KIND = "io.statefun.playground.v1/egress"

# The total budget of one request, retries included. Written out (it is the async default)
# so nobody adds a `timeouts:` block next to it, which would silently override it (§3.2).
CALL_TIMEOUT = "2min"
# Without an explicit position the runtime starts at `latest` and drops earlier records.
STARTUP_POSITION = "earliest"
DELIVERY_SEMANTIC = "exactly-once"
# `transactionTimeout`, not `transactionTimeoutMillis`: the latter reads `15min` as 0 (§3.4).
TRANSACTION_TIMEOUT = "15min"
KINESIS_MAX_OUTSTANDING_RECORDS = 1000
# Kinesis credentials come from the AWS provider chain, never from the module file.
AWS_CREDENTIALS = "default"
# The official playground image's ports (its examples and sfidl's local runtime use them).
PLAYGROUND_INGRESS_PORT = 8090
PLAYGROUND_EGRESS_PORT = 8091

_TEMPLATE = "module.yaml.j2"
_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})")


def render_module_yaml(program: Program, *, endpoint: str | None = None) -> str:
    """The module.yaml deploying ``program`` on a StateFun cluster with Kafka/Kinesis I/O.

    ``endpoint`` (the ``--endpoint`` flag) wins over the program's own ``endpoint``, which
    wins over :data:`DEFAULT_ENDPOINT`; an empty setting in the program counts as unset.
    Raises ``ValueError`` for an endpoint that is not an http(s) URL (user input: the caller
    reports it), and for a model the front end should never build (an internal error).
    """
    _check_unique("ingress", (i.typename for i in program.ingresses))
    _check_unique("egress", (e.typename for e in program.egresses))
    documents: list[_Document] = [_endpoint(program, endpoint)]
    documents.extend(_ingress(program, ingress) for ingress in program.ingresses)
    documents.extend(_egress(program, egress) for egress in program.egresses)
    return _render(program, documents)


def render_playground_module_yaml(program: Program, *, endpoint: str | None = None) -> str:
    """The module.yaml for the official StateFun playground image: the same functions, fed
    by its HTTP ingress and read from its HTTP egress, one topic per egress sink.

    The playground's ingress and egress ids are fixed by the image, hence one of each.
    """
    sinks = sorted({egress.sink for egress in program.egresses})
    documents = [
        _endpoint(program, endpoint),
        _PlaygroundDocument(
            _kind(PLAYGROUND_INGRESS_KIND), "playground_ingress", PLAYGROUND_INGRESS_PORT, ()
        ),
        _PlaygroundDocument(
            _kind(PLAYGROUND_EGRESS_KIND),
            "playground_egress",
            PLAYGROUND_EGRESS_PORT,
            tuple(_quote(sink) for sink in sinks),
        ),
    ]
    return _render(program, documents)


# The documents are only read by the template: no equality or hashing (import time).
@dataclass(frozen=True, eq=False)
class _Document:
    """One YAML document: ``layout`` names the template macro that writes it."""

    kind: str
    layout: str


@dataclass(frozen=True, eq=False)
class _EndpointDocument(_Document):
    """The HTTP endpoint of the functions."""

    functions: str
    url: str
    transport: str
    call: str


@dataclass(frozen=True, eq=False)
class _Route:
    """One entry of an ingress's ``topics`` or ``streams``."""

    source: str
    value_type: str
    targets: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class _KafkaIngressDocument(_Document):
    """A Kafka ingress."""

    id: str
    address: str
    consumer_group: str
    startup_position: str
    topics: tuple[_Route, ...]


@dataclass(frozen=True, eq=False)
class _KafkaEgressDocument(_Document):
    """A Kafka egress."""

    id: str
    address: str
    delivery_semantic: str
    transaction_timeout: str


@dataclass(frozen=True, eq=False)
class _Aws:
    """Where a Kinesis ingress or egress finds its region and credentials."""

    region_type: str
    region_id: str | None  # only for a ``specific`` region
    credentials_type: str


@dataclass(frozen=True, eq=False)
class _KinesisIngressDocument(_Document):
    """A Kinesis ingress."""

    id: str
    aws: _Aws
    startup_position: str
    streams: tuple[_Route, ...]


@dataclass(frozen=True, eq=False)
class _KinesisEgressDocument(_Document):
    """A Kinesis egress."""

    id: str
    aws: _Aws
    max_outstanding_records: int


@dataclass(frozen=True, eq=False)
class _PlaygroundDocument(_Document):
    port: int
    topics: tuple[str, ...]


def _endpoint(program: Program, override: str | None) -> _EndpointDocument:
    url = override if override is not None else program.endpoint or DEFAULT_ENDPOINT
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"endpoint {url!r} is not an http:// or https:// URL "
            "(the StateFun runtime's async transport needs one)"
        )
    return _EndpointDocument(
        kind=_kind(ENDPOINT_KIND),
        layout="endpoint",
        functions=_typename(f"{program.namespace}/*"),
        url=_quote(url),
        transport=_kind(ASYNC_TRANSPORT),
        call=CALL_TIMEOUT,
    )


def _ingress(program: Program, ingress: Ingress) -> _Document:
    route = _Route(
        source=_quote(ingress.source),
        value_type=_quote(ingress.target.request.typename),
        targets=(_typename(ingress.target.function_typename),),
    )
    if ingress.kind is IoKind.KAFKA:
        return _KafkaIngressDocument(
            kind=_kind(KAFKA_INGRESS_KIND),
            layout="kafka_ingress",
            id=_typename(ingress.typename),
            address=_quote(program.kafka_brokers or DEFAULT_KAFKA_BROKERS),
            consumer_group=_quote(program.namespace),
            startup_position=STARTUP_POSITION,
            topics=(route,),
        )
    return _KinesisIngressDocument(
        kind=_kind(KINESIS_INGRESS_KIND),
        layout="kinesis_ingress",
        id=_typename(ingress.typename),
        aws=_aws(program),
        startup_position=STARTUP_POSITION,
        streams=(route,),
    )


def _egress(program: Program, egress: Egress) -> _Document:
    # A dead-letter egress is an ordinary egress here: only the stubs treat it specially.
    if egress.kind is IoKind.KAFKA:
        return _KafkaEgressDocument(
            kind=_kind(KAFKA_EGRESS_KIND),
            layout="kafka_egress",
            id=_typename(egress.typename),
            address=_quote(program.kafka_brokers or DEFAULT_KAFKA_BROKERS),
            delivery_semantic=DELIVERY_SEMANTIC,
            transaction_timeout=TRANSACTION_TIMEOUT,
        )
    return _KinesisEgressDocument(
        kind=_kind(KINESIS_EGRESS_KIND),
        layout="kinesis_egress",
        id=_typename(egress.typename),
        aws=_aws(program),
        max_outstanding_records=KINESIS_MAX_OUTSTANDING_RECORDS,
    )


def _aws(program: Program) -> _Aws:
    if program.kinesis_region:
        return _Aws("specific", _quote(program.kinesis_region), AWS_CREDENTIALS)
    return _Aws("default", None, AWS_CREDENTIALS)


def _render(program: Program, documents: list[_Document]) -> str:
    return render_template(_TEMPLATE, source=_quote(program.root.file_name), documents=documents)


def _quote(text: str) -> str:
    """``text`` as a YAML double-quoted scalar, in plain ASCII.

    A JSON string literal is a valid YAML double-quoted scalar, except that YAML readers
    (PyYAML among them) do not join a JSON surrogate pair back into one character: those
    become YAML's 32-bit ``\\U`` escape.
    """
    literal = json.dumps(text, ensure_ascii=True)
    return _SURROGATE_PAIR.sub(_join_surrogates, literal)


def _join_surrogates(match: re.Match[str]) -> str:
    high, low = int(match.group(1), 16), int(match.group(2), 16)
    return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"


def _typename(name: str) -> str:
    """A typename the runtime can parse (exactly one ``/``, both parts non-empty), quoted."""
    if not is_typename(name):
        raise ValueError(f"sfidl internal error: {name!r} is not a <namespace>/<name> typename")
    return _quote(name)


def _kind(name: str) -> str:
    """A ``kind`` or transport type: one of this module's constants, written bare."""
    _typename(name)
    return name


def _check_unique(what: str, ids: Iterable[str]) -> None:
    # The runtime refuses a second binding of an id when it loads the module (§3.1).
    seen: set[str] = set()
    for name in ids:
        if name in seen:
            raise ValueError(f"sfidl internal error: two {what}es with the id {name!r}")
        seen.add(name)
