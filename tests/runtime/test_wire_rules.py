"""What the runtime puts on the wire never breaks a rule that makes StateFun fail the job.

The real runtime fails the whole job (and replays the same input forever) on a duplicate
pending cancellation token, an empty one on a cancellation, a negative delay, a state
typename it did not register, an unbound egress, a typename without exactly one slash, and
an egress record its egress rejects (docs/statefun.md#applying-a-response, #delayed-messages,
#egress, #typenames). These
tests pin each rule, across batches (one context, one storage view for several
invocations) and the missing-state handshake (the same batch run again).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from statefun.kinesis_egress_pb2 import KinesisEgressRecord
from statefun.request_reply_pb2 import FromFunction

import sfidl.runtime as sf
from sfidl.runtime.internal_pb2 import CallTimeout, ReplyExpired, RuntimeState
from sfidl.runtime.invocation import keeps_runtime_state
from tests.protocol import Driver, decode
from tests.runtime.wire import (
    CLIENT,
    DESK,
    FANNER,
    RELAY,
    RUNTIME_STATE,
    STORE,
    VAULT,
    delayed,
    hidden,
    mutation,
    sent,
)

MODIFY = FromFunction.PersistedValueMutation.MODIFY


@pytest.fixture
def pb(calls_out: Any) -> ModuleType:
    import calls_pb2

    return calls_pb2


@pytest.fixture
def gen(calls_out: Any) -> ModuleType:
    import calls_sfidl

    return calls_sfidl


def tokens(result: FromFunction.InvocationResponse) -> list[str]:
    return [d.cancellation_token for d in delayed(result)]


# -- batches and the handshake ------------------------------------------------------------


def test_calls_and_timers_started_in_one_batch_get_distinct_ids_and_tokens(
    impls: ModuleType, pb: ModuleType
) -> None:
    driver = Driver(impls.app())
    result = driver.invoke(
        CLIENT,
        "u1",
        pb.Start(key="a"),
        pb.Arm(label="one", delay_ms=10),
        pb.Start(key="b"),
        pb.Arm(label="two", delay_ms=10),
    )
    ids = [sent(result, pb.StoreGetCall, i)[2].correlation_id for i in range(2)]
    assert ids == ["0.0", "2.0"]
    assert tokens(result) == [
        "sfidl.timeout.0",
        "sfidl.timer.1",
        "sfidl.timeout.2",
        "sfidl.timer.3",
    ]
    # One mutation of the hidden state: the batch's final view, with the counter past all four.
    assert [m.state_name for m in result.state_mutations].count(RUNTIME_STATE) == 1
    state = hidden(driver, CLIENT, "u1")
    assert state.next_id == 4 and sorted(state.pending) == ["0", "2"]


def test_the_handshake_retry_runs_the_batch_once(impls: ModuleType, pb: ModuleType) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    result = driver.invoke(CLIENT, "u1", pb.Start(key="a"), pb.Start(key="b"))
    assert len(driver.handshakes) == 1  # the first request carried no state: the batch ran once
    assert len(client.calls) == 2 and len(result.outgoing_messages) == 2
    assert tokens(result) == ["sfidl.timeout.0", "sfidl.timeout.1"]


def test_only_a_function_that_calls_sets_timers_defers_or_holds_keeps_the_hidden_state(
    impls: ModuleType, pb: ModuleType
) -> None:
    app = impls.app()
    keeping = {t for t in app.typenames if RUNTIME_STATE in app.state_types(t)}
    # Client calls and sets a timer, Vault defers, Relay calls, Desk is exclusive, Fanner
    # calls; Store and Other only answer and receive.
    assert keeping == {CLIENT, VAULT, RELAY, DESK, FANNER}
    driver = Driver(app)
    call = pb.StoreGetCall(correlation_id="0.0", request=pb.Ask(key="a"))
    assert len(driver.invoke(STORE, "a", call, caller=(CLIENT, "u1")).outgoing_messages) == 1
    assert [s.state_name for s in driver.handshakes[0].missing_values] == ["hits"]


def without_hidden_state(spec: sf.FunctionSpec) -> sf.FunctionSpec:
    """``spec`` redeployed with no calls, timers, deferrals or exclusivity: it keeps no
    hidden state any more, so what the old version recorded there is gone with it."""
    handlers = tuple(
        dataclasses.replace(h, defers=False) if isinstance(h, sf.RequestReply) else h
        for h in spec.handlers
    )
    changed = dataclasses.replace(
        spec, handlers=handlers, timers=(), continuations=(), exclusive=False
    )
    assert not keeps_runtime_state(changed)
    return changed


def test_a_late_timeout_to_a_function_that_keeps_no_hidden_state_any_more_is_a_lost_call(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """A redeploy removed the caller's calls (``sfidl breaking``: CONTINUATION_NO_DELETE):
    the pending call's timeout is logged as a dropped call, as for a removed continuation,
    not as one that completed in time."""
    Redeployed = type(
        "Redeployed",
        (impls.Client,),
        {"sfidl_spec": without_hidden_state(impls.Client.sfidl_spec)},
    )
    driver = Driver(impls.app())
    call = driver.invoke(CLIENT, "u1", pb.Start(key="a"))
    (timeout,) = [d for d in call.delayed_invocations if not d.is_cancellation_request]
    driver.app = impls.app(client=Redeployed())
    with caplog.at_level(logging.INFO, logger="sfidl.runtime"):
        result = driver.invoke(
            CLIENT, "u1", decode(timeout.argument, CallTimeout), caller=(CLIENT, "u1")
        )
    assert result == FromFunction.InvocationResponse()  # nothing sent, written or emitted
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "test.calls/client/u1: dropped call 0: this function has no continuation any more"
    )


def test_a_late_expiry_to_a_function_that_keeps_no_hidden_state_any_more_is_a_lost_reply(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """A redeploy removed the callee's deferred replies (DEFERRED_REPLY_REMOVED): the
    expiry of one still pending is logged as forgotten, not as completed in time."""
    Redeployed = type(
        "Redeployed",
        (impls.Vault,),
        {"sfidl_spec": without_hidden_state(impls.Vault.sfidl_spec)},
    )
    driver = Driver(impls.app())
    call = driver.invoke(CLIENT, "u1", pb.Open(vault="v", key="k"))
    deferred = driver.invoke(VAULT, "v", sent(call, pb.VaultOpenCall)[2], caller=(CLIENT, "u1"))
    (cleanup,) = [d for d in deferred.delayed_invocations if not d.is_cancellation_request]
    driver.app = impls.app(vault=Redeployed())
    with caplog.at_level(logging.INFO, logger="sfidl.runtime"):
        result = driver.invoke(
            VAULT, "v", decode(cleanup.argument, ReplyExpired), caller=(VAULT, "v")
        )
    assert result == FromFunction.InvocationResponse()
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "test.calls/vault/v: forgot the deferred reply 0: this version of the function "
        "cannot complete it"
    )


def test_the_hidden_state_never_expires(impls: ModuleType, pb: ModuleType) -> None:
    """Its counter keeps tokens unique while timers are pending, however long that is."""
    driver = Driver(impls.app())
    driver.invoke(CLIENT, "u1", pb.Arm(label="x", delay_ms=1))
    (handshake,) = driver.handshakes
    (spec,) = [s for s in handshake.missing_values if s.state_name == RUNTIME_STATE]
    assert spec.type_typename == "type.googleapis.com/sfidl.v1.RuntimeState"
    assert spec.expiration_spec.mode == FromFunction.ExpirationSpec.NONE


def test_the_hidden_state_is_written_with_its_registered_typename(
    impls: ModuleType, pb: ModuleType
) -> None:
    driver = Driver(impls.app())
    state = mutation(driver.invoke(CLIENT, "u1", pb.Arm(label="x", delay_ms=1)), RUNTIME_STATE)
    assert state.mutation_type == MODIFY
    assert state.state_value.typename == "type.googleapis.com/sfidl.v1.RuntimeState"
    assert decode(state.state_value, RuntimeState) == RuntimeState(next_id=1)


# -- cancellation tokens and delays -------------------------------------------------------


def arming(impls: ModuleType, arm: Any) -> Any:
    """The test program's Client with ``arm`` replaced."""
    return impls.app(client=type("Arming", (impls.Client,), {"arm": arm})())


@pytest.mark.parametrize(
    "token", ["", "sfidl.timeout.0", "sfidl.timer.", "sfidl.timer.\u00b2", "sfidl.timer.1 ", "x"]
)
def test_only_a_timer_id_can_be_cancelled(impls: ModuleType, pb: ModuleType, token: str) -> None:
    """Empty fails the job; a call's token would cancel its timeout; others are not ids."""

    def arm(self: Any, ctx: Any, message: Any) -> None:
        ctx.timers.tick.cancel(sf.TimerId(token))

    with pytest.raises(ValueError, match="not the id of a timer"):
        Driver(arming(impls, arm)).invoke(CLIENT, "u1", pb.Arm())


@pytest.mark.parametrize(
    "delay", [timedelta(microseconds=-1), timedelta(milliseconds=-1), timedelta(days=-1)]
)
def test_a_negative_delay_raises(impls: ModuleType, pb: ModuleType, delay: timedelta) -> None:
    def arm(self: Any, ctx: Any, message: Any) -> None:
        ctx.timers.tick.after(delay, pb.Tick())

    with pytest.raises(ValueError, match="a delay cannot be negative"):
        Driver(arming(impls, arm)).invoke(CLIENT, "u1", pb.Arm())


def test_a_sub_millisecond_delay_is_sent_as_zero(impls: ModuleType, pb: ModuleType) -> None:
    def arm(self: Any, ctx: Any, message: Any) -> None:
        ctx.timers.tick.after(timedelta(microseconds=999), pb.Tick())

    result = Driver(arming(impls, arm)).invoke(CLIENT, "u1", pb.Arm())
    assert [d.delay_in_ms for d in delayed(result)] == [0]


def test_a_sub_millisecond_call_timeout_is_a_zero_delay(impls: ModuleType, pb: ModuleType) -> None:
    client = impls.Client({"timeout": timedelta(microseconds=10)})
    result = Driver(impls.app(client=client)).invoke(CLIENT, "u1", pb.Start(key="a"))
    assert [d.delay_in_ms for d in delayed(result)] == [0]


# -- egress -------------------------------------------------------------------------------


def published(result: FromFunction.InvocationResponse) -> KinesisEgressRecord:
    (egress,) = result.outgoing_egresses
    assert (egress.egress_namespace, egress.egress_type) == ("test.calls", "log")
    record: KinesisEgressRecord = decode(egress.argument, KinesisEgressRecord)
    return record


def test_kinesis_records_default_their_partition_key_to_the_function_id(
    impls: ModuleType, pb: ModuleType
) -> None:
    result = Driver(impls.app()).invoke(CLIENT, "u1", pb.Publish(text="hi", default_key=True))
    record = published(result)
    assert (record.stream, record.partition_key) == ("log", "u1")
    assert pb.Note.FromString(record.value_bytes) == pb.Note(text="hi")


@pytest.mark.parametrize("key", ["", "k" * 257, "\U0001f600" * 129])
def test_a_kinesis_partition_key_kinesis_rejects_raises(
    impls: ModuleType, pb: ModuleType, key: str
) -> None:
    """Kinesis takes 1 to 256 UTF-16 units; any other key fails the job at the egress."""
    with pytest.raises(ValueError, match="a Kinesis partition key must be 1 to 256"):
        Driver(impls.app()).invoke(CLIENT, "u1", pb.Publish(text="hi", key=key))


def test_a_function_id_that_is_no_kinesis_key_needs_an_explicit_one(
    impls: ModuleType, pb: ModuleType
) -> None:
    with pytest.raises(ValueError, match="pass key="):
        Driver(impls.app()).invoke(CLIENT, "u" * 300, pb.Publish(text="hi", default_key=True))
    result = Driver(impls.app()).invoke(CLIENT, "u" * 300, pb.Publish(text="hi", key="short"))
    assert published(result).partition_key == "short"


# -- what the application accepts at start-up ---------------------------------------------


def test_a_function_typename_without_exactly_one_slash_is_refused(
    impls: ModuleType, gen: ModuleType
) -> None:
    class Nested(impls.Client):  # type: ignore[misc,name-defined]
        sfidl_spec = dataclasses.replace(gen.Client.sfidl_spec, typename="test.calls/a/client")

    with pytest.raises(ValueError, match="'test.calls/a/client' is not a StateFun typename"):
        impls.app(client=Nested())


def test_an_egress_typename_without_exactly_one_slash_is_refused(
    impls: ModuleType, gen: ModuleType
) -> None:
    egress = dataclasses.replace(gen.EGRESS_LOG, typename="/log")
    manifest = dataclasses.replace(gen.MANIFEST, egresses=(egress,))
    functions = [
        impls.Store(),
        impls.Other(),
        impls.Client(),
        impls.Vault(),
        impls.Relay(),
        impls.Desk(),
        impls.Fanner(),
    ]
    with pytest.raises(ValueError, match="'/log' is not a StateFun typename"):
        sf.Application(manifest, functions)


def test_a_sub_millisecond_state_expiry_is_refused(impls: ModuleType, gen: ModuleType) -> None:
    """StateFun truncates it to a TTL of 0 ms with expiry on, which Flink rejects."""

    class Brief(sf.State):
        timer = sf.ScalarState(sf.STRING, "", expire_after_call=timedelta(microseconds=500))

    class Expiring(impls.Client):  # type: ignore[misc,name-defined]
        sfidl_spec = dataclasses.replace(gen.Client.sfidl_spec, state=Brief)

    with pytest.raises(ValueError, match="state 'timer' cannot expire after less than 1 ms"):
        impls.app(client=Expiring())
