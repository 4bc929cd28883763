"""Request/reply over one-way messages, through the SDK's RequestReplyHandler with real bytes.

Each test plays the cluster with tests.protocol.Driver: the caller's invocation, the
callee's, then the reply (or the timeout) delivered back, asserting what went on the wire.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from statefun.request_reply_pb2 import FromFunction

from sfidl.runtime import Timeout
from sfidl.runtime.internal_pb2 import CallTimeout, RuntimeState
from tests.protocol import Driver, Envelope, Response, decode, forward, typed
from tests.runtime.wire import (
    CLIENT,
    FANNER,
    OTHER,
    RUNTIME_STATE,
    STORE,
    delayed,
    hidden,
    mutation,
    sent,
)

USER = (CLIENT, "u1")


@pytest.fixture
def pb(calls_out: Any) -> ModuleType:
    import calls_pb2

    return calls_pb2


@pytest.fixture
def gen(calls_out: Any) -> ModuleType:
    import calls_sfidl

    return calls_sfidl


def ask(driver: Driver, pb: ModuleType, key: str, id: str = "u1") -> Response:
    return driver.invoke(CLIENT, id, pb.Start(key=key))


def timeout_of(result: Response) -> Envelope:
    """The call timeout a response scheduled, delivered as the runtime would (from itself)."""
    (timer,) = [d for d in result.delayed_invocations if not d.is_cancellation_request]
    target = (f"{timer.target.namespace}/{timer.target.type}", timer.target.id)
    return Envelope(timer.argument, target)


def only_cancellation(result: Response) -> str:
    (cancel,) = delayed(result)
    assert cancel.is_cancellation_request
    return cancel.cancellation_token


def quiet(result: Response) -> bool:
    """Nothing sent, scheduled, written or emitted."""
    return result == FromFunction.InvocationResponse()


# -- one call ---------------------------------------------------------------------------


def test_call_sends_the_envelope_the_timeout_and_records_the_call(
    impls: ModuleType, pb: ModuleType
) -> None:
    driver = Driver(impls.app())
    result = ask(driver, pb, "a")

    target, id, envelope = sent(result, pb.StoreGetCall)
    assert (target, id) == (STORE, "a")
    # The caller's deadline: its clock (the test clock, T0) plus the 5 s timeout.
    assert envelope == pb.StoreGetCall(
        correlation_id="0.0", request=pb.Ask(key="a"), deadline_millis=impls.T0 + 5000
    )

    (timer,) = delayed(result)
    assert not timer.is_cancellation_request
    assert (timer.target.namespace, timer.target.type, timer.target.id) == (
        "test.calls",
        "client",
        "u1",
    )
    assert timer.delay_in_ms == 5000
    assert timer.cancellation_token == "sfidl.timeout.0"
    assert decode(timer.argument, CallTimeout) == CallTimeout(group="0")

    state = mutation(result, RUNTIME_STATE)
    assert state.mutation_type == FromFunction.PersistedValueMutation.MODIFY
    runtime = decode(state.state_value, RuntimeState)
    assert runtime.next_id == 1
    group = runtime.pending["0"]
    assert group.continuation == "got"
    assert group.timeout_token == "sfidl.timeout.0" and group.timeout_millis == 5000
    assert group.has_carried and pb.Note.FromString(group.carried) == pb.Note(text="for a")
    (call,) = group.calls
    assert (call.target_typename, call.target_id, call.done) == (STORE, "a", False)
    assert pb.Ask.FromString(call.request) == pb.Ask(key="a")


def test_a_call_arriving_after_its_callers_deadline_is_not_run(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    clock = impls.Clock()
    driver = Driver(impls.app(clock=clock))
    first, second = ask(driver, pb, "a"), ask(driver, pb, "a", id="u2")  # deadlines T0 + 5 s

    clock.now = impls.T0 + 4999  # in time: answered
    answered = driver.invoke(STORE, "a", forward(first, sender=USER))
    assert sent(answered, pb.StoreGetReply)[2].reply == pb.Answer(key="a", value=1)

    clock.now = impls.T0 + 5000  # the caller has timed out: nothing runs, nothing is sent
    with caplog.at_level("WARNING", logger="sfidl.runtime"):
        late = driver.invoke(STORE, "a", forward(second, sender=(CLIENT, "u2")))
    assert quiet(late)
    assert "deadline passed before it arrived" in caplog.text


def test_reply_reaches_the_continuation_with_request_and_carried_value(
    impls: ModuleType, pb: ModuleType
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call = ask(driver, pb, "a")

    answered = driver.invoke(STORE, "a", forward(call, sender=USER))
    target, id, reply = sent(answered, pb.StoreGetReply)
    assert (target, id) == USER
    assert reply == pb.StoreGetReply(correlation_id="0.0", reply=pb.Answer(key="a", value=1))
    assert not delayed(answered)

    done = driver.invoke(CLIENT, "u1", forward(answered, sender=(STORE, "a")))
    assert only_cancellation(done) == "sfidl.timeout.0"
    assert not done.outgoing_messages
    assert client.seen == [
        ("got", pb.Answer(key="a", value=1), pb.Ask(key="a"), pb.Note(text="for a"))
    ]
    assert hidden(driver, CLIENT, "u1") == RuntimeState(next_id=1)


def test_declared_error_reaches_the_continuation_as_the_generated_exception(
    impls: ModuleType, pb: ModuleType, gen: ModuleType
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call = ask(driver, pb, "zz")
    answered = driver.invoke(STORE, "zz", forward(call, sender=USER))
    _, _, reply = sent(answered, pb.StoreGetReply)
    assert reply.WhichOneof("outcome") == "not_found"
    assert reply.not_found == pb.NotFound(key="zz", tried=1)

    driver.invoke(CLIENT, "u1", forward(answered, sender=(STORE, "zz")))
    ((name, outcome, request, carried),) = client.seen
    assert name == "got"
    assert type(outcome) is gen.NotFoundError
    assert outcome.detail.key == "zz" and outcome.detail.tried == 1
    assert (request, carried) == (pb.Ask(key="zz"), pb.Note(text="for zz"))


def test_timeout_reaches_the_continuation_and_the_late_reply_is_dropped(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call = ask(driver, pb, "a")

    timed_out = driver.invoke(CLIENT, "u1", timeout_of(call))
    assert not delayed(timed_out) and not timed_out.outgoing_messages
    assert client.seen == [
        ("got", Timeout(after=timedelta(seconds=5)), pb.Ask(key="a"), pb.Note(text="for a"))
    ]
    assert hidden(driver, CLIENT, "u1").pending == {}

    answered = driver.invoke(STORE, "a", forward(call, sender=USER))
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        late = driver.invoke(CLIENT, "u1", forward(answered, sender=(STORE, "a")))
    assert quiet(late)
    assert len(client.seen) == 1
    assert "dropped a reply from test.calls/store/a with correlation id '0.0'" in caplog.text


def test_timeout_after_the_reply_won_the_race_is_ignored(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call = ask(driver, pb, "a")
    answered = driver.invoke(STORE, "a", forward(call, sender=USER))
    driver.invoke(CLIENT, "u1", forward(answered, sender=(STORE, "a")))

    with caplog.at_level(logging.INFO, logger="sfidl.runtime"):
        stale = driver.invoke(CLIENT, "u1", timeout_of(call))
    assert quiet(stale)
    assert len(client.seen) == 1
    assert "call 0 completed before its timeout" in caplog.text


def test_duplicate_reply_is_delivered_once(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call = ask(driver, pb, "a")
    answered = driver.invoke(STORE, "a", forward(call, sender=USER))
    reply = forward(answered, sender=(STORE, "a"))

    driver.invoke(CLIENT, "u1", reply)
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        again = driver.invoke(CLIENT, "u1", reply)
        # Both copies in one batch, as a redelivery could bring them.
        driver2 = Driver(impls.app(client=(twice := impls.Client())))
        call2 = ask(driver2, pb, "a")
        answered2 = driver2.invoke(STORE, "a", forward(call2, sender=USER))
        reply2 = forward(answered2, sender=(STORE, "a"))
        batch = driver2.invoke(CLIENT, "u1", reply2, reply2)
    assert quiet(again)
    assert len(client.seen) == 1
    assert len(twice.seen) == 1 and only_cancellation(batch) == "sfidl.timeout.0"
    assert caplog.text.count("dropped a reply") == 2


@pytest.mark.parametrize("correlation", ["7.0", "0.1", "0", "", "x.y", "0.-1", "0.0.0"])
def test_reply_with_an_unknown_correlation_id_is_dropped(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture, correlation: str
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    ask(driver, pb, "a")
    stray = pb.StoreGetReply(correlation_id=correlation, reply=pb.Answer(key="a", value=9))
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        result = driver.invoke(CLIENT, "u1", stray, caller=(STORE, "a"))
    assert quiet(result)
    assert client.seen == []
    assert f"correlation id {correlation!r}" in caplog.text
    assert "0" in hidden(driver, CLIENT, "u1").pending


@pytest.mark.parametrize("sender", [(STORE, "b"), (OTHER, "a"), (CLIENT, "u1"), None])
def test_reply_from_another_address_than_the_one_called_is_dropped(
    impls: ModuleType,
    pb: ModuleType,
    caplog: pytest.LogCaptureFixture,
    sender: tuple[str, str] | None,
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call = ask(driver, pb, "a")
    answered = driver.invoke(STORE, "a", forward(call, sender=USER))
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        spoofed = driver.invoke(
            CLIENT, "u1", Envelope(answered.outgoing_messages[0].argument, sender)
        )
    assert quiet(spoofed)
    assert client.seen == []
    assert "dropped a reply" in caplog.text
    # The real reply still completes the call.
    driver.invoke(CLIENT, "u1", forward(answered, sender=(STORE, "a")))
    assert [name for name, *_ in client.seen] == ["got"]


def test_reply_of_another_rpc_of_the_called_function_is_dropped(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """Other.peek's reply envelope, with the correlation id of a call to Other.size."""
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call = driver.invoke(CLIENT, "u1", pb.Measure(key="o"))
    _, _, envelope = sent(call, pb.OtherSizeCall)
    wrong = pb.OtherPeekReply(correlation_id=envelope.correlation_id, reply=pb.Peeked(text="x"))
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        result = driver.invoke(CLIENT, "u1", wrong, caller=(OTHER, "o"))
    assert quiet(result)
    assert client.seen == []

    answered = driver.invoke(OTHER, "o", forward(call, sender=USER))
    driver.invoke(CLIENT, "u1", forward(answered, sender=(OTHER, "o")))
    assert client.seen == [("sized", pb.Answer(key="o", value=1), pb.Ask(key="o"), None)]


def test_reply_carrying_no_outcome_is_dead_lettered_and_the_call_stays_pending(
    impls: ModuleType, pb: ModuleType
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call = ask(driver, pb, "a")
    empty = pb.StoreGetReply(correlation_id="0.0")
    result = driver.invoke(CLIENT, "u1", empty, caller=(STORE, "a"))
    assert len(result.outgoing_egresses) == 1 and not result.state_mutations
    assert client.seen == []

    answered = driver.invoke(STORE, "a", forward(call, sender=USER))
    driver.invoke(CLIENT, "u1", forward(answered, sender=(STORE, "a")))
    assert [name for name, *_ in client.seen] == ["got"]


def test_call_timeout_from_another_address_is_dead_lettered(
    impls: ModuleType, pb: ModuleType
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call = ask(driver, pb, "a")
    forged = Envelope(timeout_of(call).value, (STORE, "a"))
    result = driver.invoke(CLIENT, "u1", forged)
    assert len(result.outgoing_egresses) == 1 and not result.state_mutations
    assert client.seen == []
    assert "0" in hidden(driver, CLIENT, "u1").pending


# -- call options -----------------------------------------------------------------------


def test_timeout_override_at_the_call_site(impls: ModuleType, pb: ModuleType) -> None:
    client = impls.Client({"timeout": timedelta(milliseconds=250)})
    driver = Driver(impls.app(client=client))
    result = ask(driver, pb, "a")
    (timer,) = delayed(result)
    assert timer.delay_in_ms == 250
    assert hidden(driver, CLIENT, "u1").pending["0"].timeout_millis == 250

    driver.invoke(CLIENT, "u1", timeout_of(result))
    assert client.seen[0][1] == Timeout(after=timedelta(milliseconds=250))


def test_no_timeout_schedules_nothing_and_waits(impls: ModuleType, pb: ModuleType) -> None:
    client = impls.Client({"timeout": None})
    driver = Driver(impls.app(client=client))
    result = ask(driver, pb, "a")
    assert not delayed(result)
    assert sent(result, pb.StoreGetCall)[2].deadline_millis == 0  # no deadline
    group = hidden(driver, CLIENT, "u1").pending["0"]
    assert group.timeout_token == "" and group.timeout_millis == 0

    answered = driver.invoke(STORE, "a", forward(result, sender=USER))
    done = driver.invoke(CLIENT, "u1", forward(answered, sender=(STORE, "a")))
    assert not delayed(done)  # no timeout, so nothing to cancel
    assert [name for name, *_ in client.seen] == ["got"]


@pytest.mark.parametrize("timeout", [timedelta(seconds=-1), timedelta(0)])
def test_a_timeout_that_is_not_positive_raises(
    impls: ModuleType, pb: ModuleType, timeout: timedelta
) -> None:
    driver = Driver(impls.app(client=impls.Client({"timeout": timeout})))
    with pytest.raises(ValueError, match="a call timeout must be positive"):
        ask(driver, pb, "a")
    assert hidden(driver, CLIENT, "u1") == RuntimeState()


def test_a_request_of_the_wrong_type_raises_before_anything_is_sent(
    impls: ModuleType, pb: ModuleType, gen: ModuleType
) -> None:
    class Confused(impls.Client):  # type: ignore[misc,name-defined]
        def ask(self, ctx: Any, message: Any) -> None:
            ctx.functions.store("a").get(pb.Note(text="not an Ask"), carry=pb.Note())

    driver = Driver(impls.app(client=Confused()))
    with pytest.raises(TypeError, match="get takes a test.calls.Ask, not Note"):
        ask(driver, pb, "a")


@pytest.mark.parametrize(
    "second, error",
    [
        (("", "Ask"), "the id of a test.calls/other instance cannot be empty"),
        (("o", "Note"), "peek takes a test.calls.Ask, not Note"),
    ],
)
def test_a_join_with_a_bad_call_sends_none_of_its_calls(
    impls: ModuleType, pb: ModuleType, second: tuple[str, str], error: str
) -> None:
    class Careful(impls.Client):  # type: ignore[misc,name-defined]
        def both(self, ctx: Any, message: Any) -> None:
            id, request = second
            try:
                ctx.joins.joined(("a", pb.Ask(key="a")), (id, getattr(pb, request)()))
            except (ValueError, TypeError) as refused:
                self.seen.append(("refused", str(refused), None, None))

    client = Careful()
    driver = Driver(impls.app(client=client))
    assert quiet(driver.invoke(CLIENT, "u1", pb.Pair(key="a")))
    assert client.seen == [("refused", error, None, None)]


def test_a_call_whose_continuation_is_gone_after_a_redeploy_is_dropped(
    impls: ModuleType, pb: ModuleType, gen: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """The reply of a call the previous version made never fails the invocation.

    The group is dropped at the first message that finds it (its timeout cancelled), so
    a call without a timeout does not stay in the hidden state forever either.
    """

    class Redeployed(impls.Client):  # type: ignore[misc,name-defined]
        sfidl_spec = dataclasses.replace(
            gen.Client.sfidl_spec,
            continuations=tuple(c for c in gen.Client.sfidl_spec.continuations if c.name != "got"),
        )

    driver = Driver(impls.app())
    call = ask(driver, pb, "a")
    answered = driver.invoke(STORE, "a", forward(call, sender=USER))
    driver.app = impls.app(client=(client := Redeployed()))
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        reply = driver.invoke(CLIENT, "u1", forward(answered, sender=(STORE, "a")))
    assert only_cancellation(reply) == "sfidl.timeout.0"
    assert hidden(driver, CLIENT, "u1") == RuntimeState(next_id=1)
    assert quiet(driver.invoke(CLIENT, "u1", timeout_of(call)))
    assert client.seen == []
    assert "has no continuation 'got' any more" in caplog.text


def test_the_timeout_of_a_call_whose_continuation_is_gone_is_dropped(
    impls: ModuleType, pb: ModuleType, gen: ModuleType
) -> None:
    class Redeployed(impls.Client):  # type: ignore[misc,name-defined]
        sfidl_spec = dataclasses.replace(gen.Client.sfidl_spec, continuations=())

    driver = Driver(impls.app())
    call = ask(driver, pb, "a")
    driver.app = impls.app(client=(client := Redeployed()))
    timed_out = driver.invoke(CLIENT, "u1", timeout_of(call))
    assert not timed_out.outgoing_messages and not delayed(timed_out)  # its timer has fired
    assert hidden(driver, CLIENT, "u1") == RuntimeState(next_id=1)
    assert client.seen == []


def narrowed_join(impls: ModuleType, gen: ModuleType) -> Any:
    """Client redeployed with the join ``joined`` reduced to its second target (Other.peek)."""
    spec = gen.Client.sfidl_spec
    narrowed = tuple(
        dataclasses.replace(c, targets=c.targets[1:]) if c.name == "joined" else c
        for c in spec.continuations
    )
    return type(
        "Redeployed",
        (impls.Client,),
        {"sfidl_spec": dataclasses.replace(spec, continuations=narrowed)},
    )()


def test_a_join_reply_the_redeployed_continuation_does_not_expect_is_dropped(
    impls: ModuleType, pb: ModuleType, gen: ModuleType
) -> None:
    driver = Driver(impls.app())
    _, store, other = start_join(driver, pb, "a")
    driver.app = impls.app(client=(client := narrowed_join(impls, gen)))
    # The group no longer fits the continuation: dropped (its timeout cancelled) at the first reply.
    assert only_cancellation(driver.invoke(CLIENT, "u1", other)) == "sfidl.timeout.0"
    assert quiet(driver.invoke(CLIENT, "u1", store))
    assert hidden(driver, CLIENT, "u1") == RuntimeState(next_id=1) and client.seen == []


def test_the_timeout_of_a_join_the_redeployed_continuation_no_longer_fits_is_dropped(
    impls: ModuleType, pb: ModuleType, gen: ModuleType
) -> None:
    """Never handed to the new continuation: its outcomes would be another rpc's."""
    driver = Driver(impls.app())
    call, _, _ = start_join(driver, pb, "a")
    driver.app = impls.app(client=(client := narrowed_join(impls, gen)))
    timed_out = driver.invoke(CLIENT, "u1", timeout_of(call))
    assert not timed_out.outgoing_messages and not delayed(timed_out)
    assert hidden(driver, CLIENT, "u1") == RuntimeState(next_id=1) and client.seen == []


@pytest.mark.parametrize("by", ["its timeout", "its reply"])
def test_a_recorded_call_that_no_longer_decodes_is_dropped_not_retried(
    impls: ModuleType, pb: ModuleType, by: str
) -> None:
    """Bytes recorded under types a redeploy changed incompatibly: the group can never complete."""
    driver = Driver(impls.app(client=(client := impls.Client())))
    call = ask(driver, pb, "a")
    driver.state[(CLIENT, "u1")][RUNTIME_STATE].value = _with_carried(
        hidden(driver, CLIENT, "u1"), b"\xff"  # a truncated varint under any message type
    )
    if by == "its timeout":
        ended = driver.invoke(CLIENT, "u1", timeout_of(call))
        assert not delayed(ended)
    else:
        answered = driver.invoke(STORE, "a", forward(call, sender=USER))
        ended = driver.invoke(CLIENT, "u1", forward(answered, sender=(STORE, "a")))
        assert only_cancellation(ended) == "sfidl.timeout.0"
    assert not ended.outgoing_messages
    assert hidden(driver, CLIENT, "u1") == RuntimeState(next_id=1) and client.seen == []


def _with_carried(state: RuntimeState, carried: bytes) -> bytes:
    state.pending["0"].carried = carried
    return state.SerializeToString()


@pytest.mark.parametrize("correlation_id", ["0.\u00b2", "0.-1", "0. 0", "0.0.0", "\u0660.0", "0."])
def test_a_reply_whose_correlation_id_is_not_canonical_is_dropped(
    impls: ModuleType, pb: ModuleType, correlation_id: str
) -> None:
    driver = Driver(impls.app(client=(client := impls.Client())))
    ask(driver, pb, "a")
    reply = pb.StoreGetReply(correlation_id=correlation_id, reply=pb.Answer(key="a", value=1))
    assert quiet(driver.invoke(CLIENT, "u1", Envelope(typed(reply), (STORE, "a"))))
    assert client.seen == [] and "0" in hidden(driver, CLIENT, "u1").pending


def test_correlation_ids_are_unique_across_invocations_and_restarts(
    impls: ModuleType, pb: ModuleType
) -> None:
    driver = Driver(impls.app())
    first = ask(driver, pb, "a")
    second = ask(driver, pb, "b")
    driver.app = impls.app()  # a restart: fresh objects, the state the cluster kept
    third = ask(driver, pb, "c")
    ids = [sent(r, pb.StoreGetCall)[2].correlation_id for r in (first, second, third)]
    tokens = [delayed(r)[0].cancellation_token for r in (first, second, third)]
    assert ids == ["0.0", "1.0", "2.0"]
    assert tokens == ["sfidl.timeout.0", "sfidl.timeout.1", "sfidl.timeout.2"]
    assert sorted(hidden(driver, CLIENT, "u1").pending) == ["0", "1", "2"]
    # Another instance has its own counter: ids are unique per caller.
    assert sent(ask(driver, pb, "a", id="u2"), pb.StoreGetCall)[2].correlation_id == "0.0"


# -- several calls at once ----------------------------------------------------------------


def test_several_calls_in_flight_answered_in_any_order(impls: ModuleType, pb: ModuleType) -> None:
    fanner = impls.Fanner()
    driver = Driver(impls.app(fanner=fanner))
    keys = ["a", "b", "zz", "c"]
    result = driver.invoke(FANNER, "f", pb.Fan(keys=keys))
    assert not delayed(result)  # Fanner's calls have no default timeout
    calls = [sent(result, pb.StoreGetCall, i) for i in range(len(keys))]
    assert [(t, id, e.correlation_id) for t, id, e in calls] == [
        (STORE, "a", "0.0"),
        (STORE, "b", "1.0"),
        (STORE, "zz", "2.0"),
        (STORE, "c", "3.0"),
    ]
    replies = {
        key: forward(
            driver.invoke(STORE, key, forward(result, i, sender=(FANNER, "f"))), sender=(STORE, key)
        )
        for i, key in enumerate(keys)
    }
    driver.invoke(FANNER, "f", replies["c"])
    driver.invoke(FANNER, "f", replies["zz"], replies["a"])  # two in one batch
    assert len(hidden(driver, FANNER, "f").pending) == 1
    driver.invoke(FANNER, "f", replies["b"])

    got = [(request.key, outcome) for outcome, request in fanner.seen]
    assert [key for key, _ in got] == ["c", "zz", "a", "b"]
    assert got[0][1] == pb.Answer(key="c", value=3)
    assert got[1][1].detail == pb.NotFound(key="zz", tried=1)
    assert got[2][1] == pb.Answer(key="a", value=1)
    assert got[3][1] == pb.Answer(key="b", value=2)
    assert hidden(driver, FANNER, "f") == RuntimeState(next_id=4)


# -- joins ------------------------------------------------------------------------------


def start_join(driver: Driver, pb: ModuleType, key: str) -> tuple[Response, Envelope, Envelope]:
    """The join's calls, and both callees' replies ready to deliver."""
    call = driver.invoke(CLIENT, "u1", pb.Pair(key=key))
    store = driver.invoke(STORE, key, forward(call, 0, sender=USER))
    other = driver.invoke(OTHER, key, forward(call, 1, sender=USER))
    return call, forward(store, sender=(STORE, key)), forward(other, sender=(OTHER, key))


def test_join_sends_every_call_of_one_group(impls: ModuleType, pb: ModuleType) -> None:
    driver = Driver(impls.app())
    call = driver.invoke(CLIENT, "u1", pb.Pair(key="a"))
    deadline = impls.T0 + 2000  # one deadline for the whole join
    assert sent(call, pb.StoreGetCall, 0) == (
        STORE,
        "a",
        pb.StoreGetCall(correlation_id="0.0", request=pb.Ask(key="a"), deadline_millis=deadline),
    )
    assert sent(call, pb.OtherPeekCall, 1) == (
        OTHER,
        "a",
        pb.OtherPeekCall(correlation_id="0.1", request=pb.Ask(key="a?"), deadline_millis=deadline),
    )
    (timer,) = delayed(call)
    assert (timer.delay_in_ms, timer.cancellation_token) == (2000, "sfidl.timeout.0")
    group = hidden(driver, CLIENT, "u1").pending["0"]
    assert group.continuation == "joined" and not group.has_carried
    assert [(c.target_typename, c.target_id) for c in group.calls] == [(STORE, "a"), (OTHER, "a")]


def test_join_completes_only_when_every_reply_is_in_with_outcomes_in_declared_order(
    impls: ModuleType, pb: ModuleType
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    _, store, other = start_join(driver, pb, "a")

    first = driver.invoke(CLIENT, "u1", other)  # the second target answers first
    assert client.seen == [] and not delayed(first)
    assert [c.done for c in hidden(driver, CLIENT, "u1").pending["0"].calls] == [False, True]

    last = driver.invoke(CLIENT, "u1", store)
    assert only_cancellation(last) == "sfidl.timeout.0"
    assert client.seen == [
        (
            "joined",
            (pb.Answer(key="a", value=1), pb.Peeked(text="peeked a?")),
            (pb.Ask(key="a"), pb.Ask(key="a?")),
            None,
        )
    ]
    assert hidden(driver, CLIENT, "u1").pending == {}


def test_join_with_an_error_outcome(impls: ModuleType, pb: ModuleType, gen: ModuleType) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    _, store, other = start_join(driver, pb, "zz")
    driver.invoke(CLIENT, "u1", store, other)
    ((_, (error, peeked), _, _),) = client.seen
    assert error == gen.NotFoundError(pb.NotFound(key="zz", tried=1))
    assert peeked == pb.Peeked(text="peeked zz?")


def test_join_timing_out_with_part_of_the_replies_in(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call, store, other = start_join(driver, pb, "a")
    driver.invoke(CLIENT, "u1", other)
    timed_out = driver.invoke(CLIENT, "u1", timeout_of(call))
    assert not delayed(timed_out)
    assert client.seen == [
        (
            "joined",
            (Timeout(after=timedelta(seconds=2)), pb.Peeked(text="peeked a?")),
            (pb.Ask(key="a"), pb.Ask(key="a?")),
            None,
        )
    ]
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        assert quiet(driver.invoke(CLIENT, "u1", store))
    assert len(client.seen) == 1 and "dropped a reply" in caplog.text


def test_join_reply_carrying_no_outcome_never_poisons_the_group(
    impls: ModuleType, pb: ModuleType
) -> None:
    """Checked when it arrives: stored, it would make the join's completion fail forever."""
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call, store, _ = start_join(driver, pb, "a")
    empty = driver.invoke(
        CLIENT, "u1", pb.OtherPeekReply(correlation_id="0.1"), caller=(OTHER, "a")
    )
    assert len(empty.outgoing_egresses) == 1 and not empty.state_mutations
    driver.invoke(CLIENT, "u1", store)
    driver.invoke(CLIENT, "u1", timeout_of(call))
    ((_, outcomes, _, _),) = client.seen
    assert outcomes == (pb.Answer(key="a", value=1), Timeout(after=timedelta(seconds=2)))


def test_duplicate_reply_inside_a_join_is_not_counted_twice(
    impls: ModuleType, pb: ModuleType
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    _, store, other = start_join(driver, pb, "a")
    driver.invoke(CLIENT, "u1", other, other)
    assert client.seen == []
    driver.invoke(CLIENT, "u1", store)
    assert len(client.seen) == 1


# -- a call to itself -------------------------------------------------------------------


def test_call_to_itself(impls: ModuleType, pb: ModuleType) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call = driver.invoke(CLIENT, "u1", pb.Loop(key="hey"))
    assert sent(call, pb.ClientEchoCall) == (
        CLIENT,
        "u1",
        pb.ClientEchoCall(correlation_id="0.0", request=pb.Ask(key="hey")),
    )
    assert not delayed(call)

    answered = driver.invoke(CLIENT, "u1", forward(call, sender=USER))
    assert sent(answered, pb.ClientEchoReply) == (
        CLIENT,
        "u1",
        pb.ClientEchoReply(correlation_id="0.0", reply=pb.Answer(key="hey", value=3)),
    )
    # Answering does not touch the caller's pending calls (same instance, same state).
    assert "0" in hidden(driver, CLIENT, "u1").pending

    driver.invoke(CLIENT, "u1", forward(answered, sender=USER))
    assert client.seen == [("echoed", pb.Answer(key="hey", value=3), pb.Ask(key="hey"), None)]
    assert hidden(driver, CLIENT, "u1") == RuntimeState(next_id=1)
