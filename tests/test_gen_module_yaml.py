"""module.yaml: the structure the StateFun 3.x runtime reads, and nothing it would ignore.

The output is parsed back with PyYAML; keys are checked against what the runtime's binders
read (docs/statefun.md#moduleyaml), because the runtime itself ignores unknown keys.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from sfidl.diagnostics import Span
from sfidl.gen.module_yaml import (
    DEFAULT_ENDPOINT,
    render_module_yaml,
    render_playground_module_yaml,
)
from sfidl.model import (
    Egress,
    Function,
    Ingress,
    IoKind,
    Program,
    SendRef,
    SourceFile,
    TypeKind,
    TypeRef,
)

NAMESPACE = "com.example.shop"
SPAN = Span.point("shop.sfidl", 1, 1)
TYPENAME = re.compile(r"^[^/]+/[^/]+$")

# What the runtime reads, per kind: a key maps to None (a scalar), to a nested schema (an
# object) or to a one-element list holding the schema of each item (a list of objects).
_AWS_REGION = {"type": None, "id": None, "endpoint": None}  # §3.5
_AWS_CREDENTIALS = {
    "type": None,
    "accessKeyId": None,
    "secretAccessKey": None,
    "profileName": None,
    "profilePath": None,
}  # §3.5
_STARTUP = {"type": None, "offsets": None, "date": None}  # §3.3
_ROUTE_KEYS = {"valueType": None, "targets": None}
READ_BY_RUNTIME: dict[str, dict[str, Any]] = {
    # §3.2: HttpEndpointBinderV2 + NettyRequestReplySpec (async transport keys).
    "io.statefun.endpoints.v2/http": {
        "functions": None,
        "urlPathTemplate": None,
        "maxNumBatchRequests": None,
        "transport": {
            "type": None,
            "call": None,
            "connect": None,
            "pool_ttl": None,
            "pool_size": None,
            "payload_max_bytes": None,
            "trust_cacerts": None,
            "client_cert": None,
            "client_key": None,
            "client_key_password": None,
            "timeouts": {"call": None, "connect": None},
        },
    },
    # §3.3: RoutableKafkaIngressSpec.
    "io.statefun.kafka.v1/ingress": {
        "id": None,
        "address": None,
        "consumerGroupId": None,
        "topics": [{"topic": None, **_ROUTE_KEYS}],
        "startupPosition": _STARTUP,
        "autoOffsetResetPosition": None,
        "properties": None,
    },
    # §3.4: GenericKafkaEgressSpec.
    "io.statefun.kafka.v1/egress": {
        "id": None,
        "address": None,
        "deliverySemantic": {"type": None, "transactionTimeout": None},
        "properties": None,
    },
    # §3.5: Kinesis binders.
    "io.statefun.kinesis.v1/ingress": {
        "id": None,
        "awsRegion": _AWS_REGION,
        "awsCredentials": _AWS_CREDENTIALS,
        "streams": [{"stream": None, **_ROUTE_KEYS}],
        "startupPosition": {"type": None, "date": None},
        "clientConfigProperties": None,
    },
    "io.statefun.kinesis.v1/egress": {
        "id": None,
        "awsRegion": _AWS_REGION,
        "awsCredentials": _AWS_CREDENTIALS,
        "maxOutstandingRecords": None,
        "clientConfigProperties": None,
    },
    # §3.6: the playground image's binders.
    "io.statefun.playground.v1/ingress": {"port": None},
    "io.statefun.playground.v1/egress": {"port": None, "topics": None},
}


# --- builders -------------------------------------------------------------------------


def message(name: str) -> TypeRef:
    return TypeRef(TypeKind.MESSAGE, f"{NAMESPACE}.{name}", NAMESPACE, "shop.proto")


def send_ref(function: str, handler: str, request: str) -> SendRef:
    return SendRef(function, f"{NAMESPACE}/{function.lower()}", handler, message(request))


def kafka_in(name: str, topic: str, target: SendRef | None = None) -> Ingress:
    target = target or send_ref("Cart", "add", "AddToCart")
    return Ingress(name, f"{NAMESPACE}/{name}", IoKind.KAFKA, topic, target, SPAN)


def kinesis_in(name: str, stream: str, target: SendRef | None = None) -> Ingress:
    target = target or send_ref("Clicks", "record", "Click")
    return Ingress(name, f"{NAMESPACE}/{name}", IoKind.KINESIS, stream, target, SPAN)


def egress(name: str, kind: IoKind, sink: str, of: str | None = "Receipt") -> Egress:
    return Egress(
        name, f"{NAMESPACE}/{name}", kind, sink, SPAN, None if of is None else message(of)
    )


def program(
    ingresses: tuple[Ingress, ...] = (),
    egresses: tuple[Egress, ...] = (),
    *,
    endpoint: str | None = None,
    kafka_brokers: str | None = None,
    kinesis_region: str | None = None,
    path: str = "shop.sfidl",
) -> Program:
    root = SourceFile(path, NAMESPACE, "shop.proto", (), (), ())
    functions = (
        Function("Cart", f"{NAMESPACE}/cart", SPAN),
        Function("Clicks", f"{NAMESPACE}/clicks", SPAN),
    )
    return Program(
        (root,),
        functions,
        ingresses,
        egresses,
        endpoint=endpoint,
        kafka_brokers=kafka_brokers,
        kinesis_region=kinesis_region,
    )


def shop(
    *,
    endpoint: str | None = None,
    kafka_brokers: str | None = None,
    kinesis_region: str | None = None,
) -> Program:
    """Kafka and Kinesis, in and out, with a dead-letter egress."""
    return program(
        (kafka_in("add_to_cart", "add-to-cart"), kinesis_in("clicks", "click-stream")),
        (
            egress("receipts", IoKind.KAFKA, "receipts"),
            egress("alerts", IoKind.KINESIS, "alert-stream", "Alert"),
            egress("dead", IoKind.KAFKA, "dead-letters", None),
        ),
        endpoint=endpoint,
        kafka_brokers=kafka_brokers,
        kinesis_region=kinesis_region,
    )


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text)]


def specs(text: str, kind: str) -> list[dict[str, Any]]:
    return [doc["spec"] for doc in documents(text) if doc["kind"] == kind]


# --- the remote module ----------------------------------------------------------------


def test_every_document_of_the_shop() -> None:
    text = render_module_yaml(
        shop(
            endpoint="http://fns:8000/statefun",
            kafka_brokers="k1:9092,k2:9092",
            kinesis_region="eu-west-1",
        )
    )
    assert documents(text) == [
        {
            "kind": "io.statefun.endpoints.v2/http",
            "spec": {
                "functions": f"{NAMESPACE}/*",
                "urlPathTemplate": "http://fns:8000/statefun",
                "transport": {"type": "io.statefun.transports.v1/async", "call": "2min"},
            },
        },
        {
            "kind": "io.statefun.kafka.v1/ingress",
            "spec": {
                "id": f"{NAMESPACE}/add_to_cart",
                "address": "k1:9092,k2:9092",
                "consumerGroupId": NAMESPACE,
                "startupPosition": {"type": "earliest"},
                "topics": [
                    {
                        "topic": "add-to-cart",
                        "valueType": f"type.googleapis.com/{NAMESPACE}.AddToCart",
                        "targets": [f"{NAMESPACE}/cart"],
                    }
                ],
            },
        },
        {
            "kind": "io.statefun.kinesis.v1/ingress",
            "spec": {
                "id": f"{NAMESPACE}/clicks",
                "awsRegion": {"type": "specific", "id": "eu-west-1"},
                "awsCredentials": {"type": "default"},
                "startupPosition": {"type": "earliest"},
                "streams": [
                    {
                        "stream": "click-stream",
                        "valueType": f"type.googleapis.com/{NAMESPACE}.Click",
                        "targets": [f"{NAMESPACE}/clicks"],
                    }
                ],
            },
        },
        {
            "kind": "io.statefun.kafka.v1/egress",
            "spec": {
                "id": f"{NAMESPACE}/receipts",
                "address": "k1:9092,k2:9092",
                "deliverySemantic": {"type": "exactly-once", "transactionTimeout": "15min"},
            },
        },
        {
            "kind": "io.statefun.kinesis.v1/egress",
            "spec": {
                "id": f"{NAMESPACE}/alerts",
                "awsRegion": {"type": "specific", "id": "eu-west-1"},
                "awsCredentials": {"type": "default"},
                "maxOutstandingRecords": 1000,
            },
        },
        # The dead-letter egress is an ordinary Kafka egress.
        {
            "kind": "io.statefun.kafka.v1/egress",
            "spec": {
                "id": f"{NAMESPACE}/dead",
                "address": "k1:9092,k2:9092",
                "deliverySemantic": {"type": "exactly-once", "transactionTimeout": "15min"},
            },
        },
    ]


def test_defaults_when_brokers_and_region_are_unset() -> None:
    text = render_module_yaml(shop())
    for spec in specs(text, "io.statefun.kafka.v1/ingress") + specs(
        text, "io.statefun.kafka.v1/egress"
    ):
        assert spec["address"] == "kafka:9092"
    kinesis = specs(text, "io.statefun.kinesis.v1/ingress") + specs(
        text, "io.statefun.kinesis.v1/egress"
    )
    assert len(kinesis) == 2
    for spec in kinesis:
        assert spec["awsRegion"] == {"type": "default"}
        assert spec["awsCredentials"] == {"type": "default"}


def test_a_kinesis_dead_letter_egress_is_an_ordinary_kinesis_egress() -> None:
    text = render_module_yaml(
        program((kafka_in("a", "t"),), (egress("dead", IoKind.KINESIS, "dlq", None),))
    )
    assert specs(text, "io.statefun.kinesis.v1/egress") == [
        {
            "id": f"{NAMESPACE}/dead",
            "awsRegion": {"type": "default"},
            "awsCredentials": {"type": "default"},
            "maxOutstandingRecords": 1000,
        }
    ]


@pytest.mark.parametrize(
    ("in_program", "flag", "expected"),
    [
        (None, None, DEFAULT_ENDPOINT),
        ("http://from-file:8000/statefun", None, "http://from-file:8000/statefun"),
        (
            "http://from-file:8000/statefun",
            "https://flag:443/fn/{function.name}",
            "https://flag:443/fn/{function.name}",
        ),
        (None, "http://flag:9000/", "http://flag:9000/"),
    ],
)
@pytest.mark.parametrize("render", [render_module_yaml, render_playground_module_yaml])
def test_endpoint_precedence(
    render: Any, in_program: str | None, flag: str | None, expected: str
) -> None:
    text = render(shop(endpoint=in_program), endpoint=flag)
    [endpoint] = specs(text, "io.statefun.endpoints.v2/http")
    assert endpoint["urlPathTemplate"] == expected


@pytest.mark.parametrize(
    "bad", ["", "fns:8000/statefun", "ftp://fns/x", "http+unix:///run/fn.sock/x", "http://"]
)
def test_an_endpoint_that_is_not_an_http_url_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not an http:// or https:// URL"):
        render_module_yaml(shop(), endpoint=bad)


def test_the_transport_never_mixes_timeouts_with_call() -> None:
    [endpoint] = specs(render_module_yaml(shop()), "io.statefun.endpoints.v2/http")
    assert "timeouts" not in endpoint["transport"]
    assert endpoint["transport"]["type"] == "io.statefun.transports.v1/async"


def test_ingresses_on_one_topic_are_separate_documents_without_duplicate_topics() -> None:
    text = render_module_yaml(
        program(
            (
                kafka_in("first", "orders"),
                kafka_in("second", "orders", send_ref("Audit", "record", "Order")),
                kinesis_in("s1", "clicks"),
                kinesis_in("s2", "clicks"),
            )
        )
    )
    kafka = specs(text, "io.statefun.kafka.v1/ingress")
    assert [spec["id"] for spec in kafka] == [f"{NAMESPACE}/first", f"{NAMESPACE}/second"]
    assert [[t["targets"] for t in spec["topics"]] for spec in kafka] == [
        [[f"{NAMESPACE}/cart"]],
        [[f"{NAMESPACE}/audit"]],
    ]
    kinesis = specs(text, "io.statefun.kinesis.v1/ingress")
    assert [spec["id"] for spec in kinesis] == [f"{NAMESPACE}/s1", f"{NAMESPACE}/s2"]
    for spec in kafka:
        topics = [t["topic"] for t in spec["topics"]]
        assert len(topics) == len(set(topics))
    for spec in kinesis:
        streams = [s["stream"] for s in spec["streams"]]
        assert len(streams) == len(set(streams))


def test_a_leading_comment_names_the_source_and_there_is_no_version_key() -> None:
    for text in (render_module_yaml(shop()), render_playground_module_yaml(shop())):
        first = text.splitlines()[0]
        assert (
            first.startswith("# ")
            and "generated by sfidl" in first.lower()
            and '"shop.sfidl"' in first
        )
        for doc in documents(text):
            assert set(doc) == {"kind", "spec"}
        assert "\nversion" not in text and not text.startswith("version")


def test_a_source_path_with_a_newline_stays_inside_the_comment() -> None:
    text = render_module_yaml(program((kafka_in("a", "t"),), path="evil\nversion: 3.0.sfidl"))
    assert (
        text.splitlines()[0]
        == '# Generated by sfidl from "evil\\nversion: 3.0.sfidl". Do not edit: recompile instead.'
    )
    assert all("version" not in doc for doc in documents(text))


# --- adversarial strings --------------------------------------------------------------

ADVERSARIAL = [
    'say "hi"',
    "it's",
    "a: b",
    "key: {x: [1, 2]}",
    "# not a comment",
    "trailing #",
    "line\nbreak",
    "cr\r\nlf",
    "tab\there",
    "back\\slash",
    "- dash",
    "---",
    "...",
    "*alias",
    "&anchor",
    "!tag",
    "%directive",
    "@at `tick`",
    "  padded  ",
    "",
    "null",
    "~",
    "true",
    "0x1F",
    "1e3",
    "ünïcødé",
    "日本語",
    "emoji 😀 and 𝕏",
    "\x00\x07\x1b\x7f",
    "nel\x85ls\u2028ps\u2029bom\ufeff",
]


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_user_strings_survive_a_yaml_round_trip(name: str) -> None:
    text = render_module_yaml(
        program(
            (kafka_in("topic", name), kinesis_in("stream", name)),
            (egress("out", IoKind.KAFKA, name),),
            endpoint="http://host:8000/" + name,
            kafka_brokers=name,
            kinesis_region=name,
        )
    )
    [kafka] = specs(text, "io.statefun.kafka.v1/ingress")
    assert kafka["topics"][0]["topic"] == name
    assert kafka["address"] == (name or "kafka:9092")  # an empty setting is no setting
    [kinesis] = specs(text, "io.statefun.kinesis.v1/ingress")
    assert kinesis["streams"][0]["stream"] == name
    assert kinesis["awsRegion"] == (
        {"type": "specific", "id": name} if name else {"type": "default"}
    )
    [endpoint] = specs(text, "io.statefun.endpoints.v2/http")
    assert endpoint["urlPathTemplate"] == "http://host:8000/" + name
    assert len(documents(text)) == 4
    playground = render_playground_module_yaml(
        program(egresses=(egress("out", IoKind.KAFKA, name),))
    )
    [pg_egress] = specs(playground, "io.statefun.playground.v1/egress")
    assert pg_egress["topics"] == [name]


def test_output_is_plain_ascii() -> None:
    text = render_module_yaml(program((kafka_in("t", "日本語 😀"),), kafka_brokers="ünï"))
    assert text.isascii()


# --- what the runtime parses ----------------------------------------------------------


def typenames_written(doc: dict[str, Any]) -> list[str]:
    spec = doc["spec"]
    names = [doc["kind"]]
    names += [spec[key] for key in ("id", "functions") if key in spec]
    if "transport" in spec:
        names.append(spec["transport"]["type"])
    for route in spec.get("topics", []) + spec.get("streams", []):
        if isinstance(route, dict):
            names += route["targets"]
    return names


@pytest.mark.parametrize("render", [render_module_yaml, render_playground_module_yaml])
def test_every_typename_has_one_slash_and_two_parts(render: Any) -> None:
    docs = documents(render(shop(kafka_brokers="b:1", kinesis_region="us-east-1")))
    written = [name for doc in docs for name in typenames_written(doc)]
    assert len(written) >= len(docs)
    for name in written:
        assert TYPENAME.match(name), name


def unread_keys(value: Any, schema: Any, where: str) -> list[str]:
    """Paths of keys in ``value`` that ``schema`` (what the runtime reads) does not have."""
    if schema is None:
        return []
    if isinstance(schema, list):
        assert isinstance(value, list), where
        return [
            p for i, item in enumerate(value) for p in unread_keys(item, schema[0], f"{where}[{i}]")
        ]
    assert isinstance(value, dict), where
    found = []
    for key, item in value.items():
        if key not in schema:
            found.append(f"{where}.{key}")
        else:
            found += unread_keys(item, schema[key], f"{where}.{key}")
    return found


@pytest.mark.parametrize(
    "text",
    [
        render_module_yaml(shop()),
        render_module_yaml(
            shop(kafka_brokers="b:1", kinesis_region="us-east-1", endpoint="https://x/y")
        ),
        render_playground_module_yaml(shop()),
    ],
    ids=["defaults", "settings", "playground"],
)
def test_no_key_the_runtime_would_ignore(text: str) -> None:
    for doc in documents(text):
        assert doc["kind"] in READ_BY_RUNTIME
        assert unread_keys(doc["spec"], READ_BY_RUNTIME[doc["kind"]], doc["kind"]) == []


def test_the_allowlist_catches_a_key_the_runtime_ignores() -> None:
    # The check above must be able to fail: the Javadoc's `transports:` is silently ignored.
    spec = {"functions": "a/*", "urlPathTemplate": "http://x", "transports": {"type": "t/u"}}
    assert unread_keys(spec, READ_BY_RUNTIME["io.statefun.endpoints.v2/http"], "ep") == [
        "ep.transports"
    ]


@pytest.mark.parametrize("bad", ["noslash", "a/b/c", "a/", "/b", "/"])
@pytest.mark.parametrize("where", ["ingress", "egress", "target"])
def test_a_malformed_typename_is_an_internal_error(bad: str, where: str) -> None:
    ingress = kafka_in("ok", "t")
    if where == "ingress":
        ingress = Ingress("x", bad, IoKind.KAFKA, "t", ingress.target, SPAN)
    if where == "target":
        ingress = kafka_in("ok", "t", SendRef("F", bad, "h", message("M")))
    egresses = (Egress("x", bad, IoKind.KINESIS, "s", SPAN),) if where == "egress" else ()
    with pytest.raises(ValueError, match="internal error"):
        render_module_yaml(program((ingress,), egresses))


def test_a_duplicate_id_is_an_internal_error() -> None:
    with pytest.raises(ValueError, match="internal error: two ingresses"):
        render_module_yaml(program((kafka_in("a", "t1"), kafka_in("a", "t2"))))
    with pytest.raises(ValueError, match="internal error: two egresses"):
        render_module_yaml(
            program(egresses=(egress("e", IoKind.KAFKA, "x"), egress("e", IoKind.KINESIS, "y")))
        )


# --- the playground variant -----------------------------------------------------------


def test_playground_documents() -> None:
    egresses = (
        egress("zeta", IoKind.KAFKA, "zeta"),
        egress("alpha", IoKind.KINESIS, "alpha"),
        egress("again", IoKind.KAFKA, "zeta"),
        egress("dead", IoKind.KAFKA, "dead-letters", None),
    )
    text = render_playground_module_yaml(
        program((kafka_in("a", "ignored"),), egresses, endpoint="http://f:1/s")
    )
    assert documents(text) == [
        {
            "kind": "io.statefun.endpoints.v2/http",
            "spec": {
                "functions": f"{NAMESPACE}/*",
                "urlPathTemplate": "http://f:1/s",
                "transport": {"type": "io.statefun.transports.v1/async", "call": "2min"},
            },
        },
        {"kind": "io.statefun.playground.v1/ingress", "spec": {"port": 8090}},
        {
            "kind": "io.statefun.playground.v1/egress",
            "spec": {"port": 8091, "topics": ["alpha", "dead-letters", "zeta"]},
        },
    ]


def test_playground_without_egresses_lists_no_topics() -> None:
    [spec] = specs(render_playground_module_yaml(program()), "io.statefun.playground.v1/egress")
    assert spec == {"port": 8091, "topics": []}


# --- determinism (the whole files are golden cases: tests/cases/kinesis_io, io_defaults) ---


@pytest.mark.parametrize("render", [render_module_yaml, render_playground_module_yaml])
def test_deterministic(render: Any) -> None:
    # Two equal programs built apart, rendered with fresh templates: byte-identical.
    first = render(shop(kinesis_region="eu-west-1"))
    assert render(shop(kinesis_region="eu-west-1")) == first
