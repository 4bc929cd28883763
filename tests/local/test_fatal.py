"""Responses the real StateFun runtime fails the job on: each stops with a clear error and applies nothing."""

from __future__ import annotations

import pytest
from statefun import IntType, StringType
from statefun.request_reply_pb2 import FromFunction

from sfidl.local.errors import JobFailure
from sfidl.local.records import Address
from sfidl.local.store import Store
from sfidl.testing import Harness
from tests.local.apps import BAD, Greet, Misbehave, RawApp, demo_app, run_on, state_app


def misbehave(what: str) -> Harness:
    h = Harness(demo_app())
    h.send(BAD, "b1", Misbehave(what=what))
    return h


@pytest.mark.parametrize(
    ("what", "why"),
    [
        ("reuse_token", "reuses the cancellation token 'same', which is still pending"),
        ("negative_delay", "negative delay -1000 ms"),
        ("unknown_egress", r"unknown egress 'demo/nope' \(declared: demo/counts\)"),
        ("unknown_function", "a message to demo/nobody/1: no function type 'demo/nobody' is bound"),
        (
            "raise",
            "failure forwarding a message to a remote function: the function raised RuntimeError: boom",
        ),
    ],
)
def test_fatal_responses_name_the_address_and_the_message(what, why):
    with misbehave(what) as h:
        with pytest.raises(JobFailure, match=why) as failure:
            h.run_until_quiet()
        message = str(failure.value)
        assert message.startswith(
            "function demo/bad/b1 (batch of 1 message(s): type.googleapis.com/sfidl.demo.Misbehave from ingress)"
        )
        assert "nothing of this batch was applied" in message
        assert h.sent == []
        assert h.state(BAD, "b1", "n") is None


def test_a_token_still_pending_from_an_earlier_invocation_is_fatal_unless_cancelled_first():
    with misbehave("token_once") as h:
        h.run_until_quiet()
        h.send(BAD, "b1", Misbehave(what="cancel_then_reuse"))
        h.run_until_quiet()  # cancel first, then reuse: allowed
        h.send(BAD, "b1", Misbehave(what="token_once"))
        with pytest.raises(JobFailure, match="reuses the cancellation token 'once'"):
            h.run_until_quiet()


def raw(reply: FromFunction, typename: str = "io.statefun.types/int") -> Harness:
    h = Harness(RawApp(reply, typename))
    h.send("raw/fn", "r", Greet(name="x"))
    return h


def test_a_mutation_of_an_unregistered_state_is_fatal():
    reply = FromFunction()
    reply.invocation_result.state_mutations.add(
        state_name="ghost", mutation_type=FromFunction.PersistedValueMutation.MODIFY
    )
    with (
        raw(reply) as h,
        pytest.raises(
            JobFailure,
            match="function raw/fn/r .*the state 'ghost', which the function never registered",
        ),
    ):
        h.run_until_quiet()


def test_writing_a_state_with_another_typename_is_fatal():
    reply = FromFunction()
    mutation = reply.invocation_result.state_mutations.add(
        state_name="x", mutation_type=FromFunction.PersistedValueMutation.MODIFY
    )
    mutation.state_value.typename = "io.statefun.types/string"
    with (
        raw(reply) as h,
        pytest.raises(
            JobFailure,
            match="state 'x' is registered with type 'io.statefun.types/int' but was written as 'io.statefun.types/string'",
        ),
    ):
        h.run_until_quiet()


def test_an_empty_cancellation_token_is_fatal():
    reply = FromFunction()
    reply.invocation_result.delayed_invocations.add(is_cancellation_request=True)
    with raw(reply) as h, pytest.raises(JobFailure, match="empty cancellation token"):
        h.run_until_quiet()


def test_a_malformed_state_typename_is_fatal():
    with (
        raw(FromFunction(), typename="no-slash") as h,
        pytest.raises(JobFailure, match="malformed typename 'no-slash'"),
    ):
        h.run_until_quiet()


def test_bytes_that_are_not_a_fromfunction_are_fatal():
    class Garbage(RawApp):
        async def handle(self, request: bytes) -> bytes:
            return b"\xff\xff\xff"

    with Harness(Garbage(FromFunction())) as h:
        h.send("raw/fn", "r", Greet(name="x"))
        with pytest.raises(JobFailure, match="not a FromFunction"):
            h.run_until_quiet()


def test_changing_a_state_type_between_runs_is_fatal(tmp_path):
    db = tmp_path / "local.sqlite"

    run_on(db, state_app(IntType), Address("raw", "fn", "r"), Greet(name="x"))
    with pytest.raises(
        JobFailure,
        match="state 'x' is registered with type 'io.statefun.types/int' but the function now declares 'io.statefun.types/string'; .*rename the state",
    ):
        run_on(db, state_app(StringType), Address("raw", "fn", "r"), Greet(name="x"))
    store = Store(db)
    assert store.counts().queued == 1 and store.counts().processed == 1
    store.close()
    # The failed batch stayed queued and runs again once the function is fixed (with the third run's message).
    run_on(db, state_app(IntType), Address("raw", "fn", "r"), Greet(name="x"))
    store = Store(db)
    assert store.counts().queued == 0 and store.counts().processed == 3
    store.close()


def test_a_function_that_keeps_reporting_states_it_was_sent_is_fatal():
    class AlwaysMissing(RawApp):
        async def handle(self, request: bytes) -> bytes:
            missing = FromFunction()
            missing.incomplete_invocation_context.missing_values.add(
                state_name="x", type_typename="io.statefun.types/int"
            )
            return missing.SerializeToString()

    with Harness(AlwaysMissing(FromFunction())) as h:
        h.send("raw/fn", "r", Greet(name="x"))
        with pytest.raises(
            JobFailure, match="reports missing states although all of them were sent"
        ):
            h.run_until_quiet()
