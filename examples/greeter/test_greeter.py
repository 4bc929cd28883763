"""The greeter through the SDK's RequestReplyHandler with real protocol bytes."""

from __future__ import annotations

import json

import greeter_pb2 as pb
from greeter_app import GreeterFunction, app
from greeter_sfidl import GreeterApp
from statefun.kafka_egress_pb2 import KafkaProducerRecord
from statefun.request_reply_pb2 import FromFunction

from sfidl.testing import Harness
from tests.protocol import Driver, decode

GREETER = "com.example.greeter/greeter"


def greeting(result: FromFunction.InvocationResponse) -> pb.Greeting:
    [egress] = result.outgoing_egresses
    assert (egress.egress_namespace, egress.egress_type) == ("com.example.greeter", "greetings")
    record = decode(egress.argument, KafkaProducerRecord)
    assert (record.topic, record.key) == ("greetings", "ada")
    return pb.Greeting.FromString(record.value_bytes)


def test_each_visit_is_counted_and_greeted() -> None:
    driver = Driver(app)

    first = driver.invoke(GREETER, "ada", pb.Greet(name="Ada"))
    second = driver.invoke(GREETER, "ada", pb.Greet(name="Ada"))

    assert [s.state_name for s in driver.handshakes[0].missing_values] == ["seen"]
    assert greeting(first) == pb.Greeting(name="Ada", text="Hello Ada!", seen=1)
    assert greeting(second).text == "Welcome back Ada, visit 2."
    [mutation] = second.state_mutations
    assert (mutation.state_name, mutation.state_value.typename) == ("seen", "io.statefun.types/int")


def test_a_batch_sees_its_own_writes() -> None:
    driver = Driver(app)
    result = driver.invoke(GREETER, "ada", pb.Greet(name="Ada"), pb.Greet(name="Ada"))
    counts = [
        pb.Greeting.FromString(decode(e.argument, KafkaProducerRecord).value_bytes).seen
        for e in result.outgoing_egresses
    ]
    assert counts == [1, 2]


def test_the_harness_runs_the_ingress_to_the_egress() -> None:
    with Harness(app) as harness:
        for name in ("ada", "bob", "ada"):
            harness.ingest("names", name, pb.Greet(name=name.title()))
        harness.run_until_quiet()
        # In order per user; StateFun leaves the order across users open.
        records = [(r.key, r.value.seen) for r in harness.egress("greetings")]
        assert sorted(records) == [("ada", 1), ("ada", 2), ("bob", 1)]
        assert [seen for key, seen in records if key == "ada"] == [1, 2]
        assert harness.state(GREETER, "ada", "seen") == 2


def test_playground_mode_writes_the_playground_egress_records() -> None:
    playground = GreeterApp(greeter=GreeterFunction(), playground=True)
    result = Driver(playground).invoke(GREETER, "ada", pb.Greet(name="Ada"))

    [egress] = result.outgoing_egresses
    assert (egress.egress_namespace, egress.egress_type) == ("io.statefun.playground", "egress")
    assert egress.argument.typename == "io.statefun.playground/EgressRecord"
    record = json.loads(egress.argument.value)
    assert record["topic"] == "greetings"
    assert json.loads(record["payload"]) == {"name": "Ada", "text": "Hello Ada!", "seen": 1}
