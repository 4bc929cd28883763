"""Billing end to end on the in-process harness (the local runtime's engine, virtual time).

The payment provider is played by the tests: they read its requests from the
"payment-requests" egress and answer through the "payment-results" ingress.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta, timezone
from pathlib import Path

import billing_pb2 as pb
import pytest
from billing_app import MAX_ATTEMPTS, RETRY_AFTER, PaymentFunction, SubscriptionFunction, app
from billing_sfidl import BillingApp, Subscription
from google.protobuf.message import Message
from statefun.kafka_egress_pb2 import KafkaProducerRecord

from sfidl.runtime.internal_pb2 import DeadLetter, RuntimeState
from sfidl.testing import Harness
from tests.protocol import Driver, Envelope, decode, outgoing, typed

SUBSCRIPTION = "com.example.billing/subscription"
PAYMENT = "com.example.billing/payment"
PERIOD = timedelta(days=30)
# billing.sfidl: `calls Payment.charge -> charged carrying Bill timeout 10m`
CHARGE_TIMEOUT = timedelta(minutes=10)
REPLY = "com.example.billing.PaymentChargeReply"
GOLD = pb.Subscribe(plan="gold", amount_cents=999, period_seconds=PERIOD // timedelta(seconds=1))

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


@pytest.fixture
def harness() -> Iterator[Harness]:
    with Harness(app) as h:
        yield h


def requests(h: Harness) -> list[str]:
    """The payment ids the provider was asked for, in order."""
    return [r.key for r in h.egress("payment_requests")]


def notifications(h: Harness) -> list[tuple[pb.NotificationKind.ValueType, int]]:
    return [(r.value.kind, r.value.period) for r in h.egress("notifications")]


def inconsistencies(h: Harness) -> list[tuple[str, str]]:
    return [(r.key, r.value.problem) for r in h.egress("inconsistencies")]


def provider_answers(h: Harness, payment_id: str, approved: bool) -> None:
    result = (
        pb.PaymentResult(approved=True, reference=f"ref-{payment_id}")
        if approved
        else pb.PaymentResult(approved=False, reference="", reason="insufficient funds")
    )
    h.ingest("payment_results", payment_id, result)
    h.run_until_quiet()


def replies_sent(h: Harness) -> list[Message]:
    """Every reply envelope a payment sent back to a subscription."""
    return [d.value for d in h.sent if d.typename.endswith("/" + REPLY)]


def account(h: Harness, user: str = "ada") -> pb.Account:
    value = h.state(SUBSCRIPTION, user, "account")
    assert isinstance(value, pb.Account)
    return value


def owed_replies(h: Harness, payment_id: str) -> int:
    """How many deferred replies the payment's hidden state still holds."""
    hidden = h.state(PAYMENT, payment_id, "sfidl_runtime")
    if hidden is None:
        return 0
    assert isinstance(hidden, RuntimeState)
    return len(hidden.replies)


def test_each_period_is_charged_exactly_once(harness: Harness) -> None:
    start = harness.now
    harness.ingest("subscriptions", "ada", GOLD)
    harness.run_until_quiet()

    for period in (1, 2, 3):
        payment_id = f"ada.{period}.1"
        assert requests(harness)[period - 1 :] == [payment_id]
        [request] = [r.value for r in harness.egress("payment_requests") if r.key == payment_id]
        assert (request.user_id, request.amount_cents) == ("ada", 999)
        assert request.requested_at.ToDatetime(tzinfo=timezone.utc) == start + (period - 1) * PERIOD
        provider_answers(harness, payment_id, approved=True)
        # Nothing more until the next period is due, then exactly one request.
        harness.advance(PERIOD - timedelta(seconds=1))
        assert len(requests(harness)) == period
        harness.advance(timedelta(seconds=1))

    assert requests(harness) == ["ada.1.1", "ada.2.1", "ada.3.1", "ada.4.1"]
    charged = pb.NOTIFICATION_KIND_CHARGED
    assert notifications(harness) == [(charged, 1), (charged, 2), (charged, 3)]
    [first, *_] = harness.egress("notifications")
    assert first.key == "ada"
    assert first.value.text == "gold: 9.99 paid (reference ref-ada.1.1)."
    assert inconsistencies(harness) == []


def test_a_declined_payment_is_retried_then_the_subscription_cancelled(harness: Harness) -> None:
    harness.ingest("subscriptions", "ada", GOLD)
    harness.run_until_quiet()

    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert requests(harness) == [f"ada.1.{a}" for a in range(1, attempt + 1)]
        provider_answers(harness, f"ada.1.{attempt}", approved=False)
        harness.advance(RETRY_AFTER)

    assert notifications(harness) == [(pb.NOTIFICATION_KIND_PAYMENT_FAILED, 1)]
    [failed] = harness.egress("notifications")
    assert failed.value.text == (
        "Your gold subscription is cancelled: 3 attempts to pay failed,"
        " the last one declined: insufficient funds."
    )
    assert not account(harness).active
    harness.advance(3 * PERIOD)
    assert len(requests(harness)) == MAX_ATTEMPTS  # no period is charged after the cancellation


def test_a_retry_that_succeeds_keeps_the_billing_dates(harness: Harness) -> None:
    start = harness.now
    harness.ingest("subscriptions", "ada", GOLD)
    harness.run_until_quiet()
    provider_answers(harness, "ada.1.1", approved=False)
    harness.advance(RETRY_AFTER)
    provider_answers(harness, "ada.1.2", approved=True)

    assert notifications(harness) == [(pb.NOTIFICATION_KIND_CHARGED, 1)]
    # The next period is due a period after the first was, not a period after the retry.
    harness.advance(start + PERIOD - harness.now)
    assert requests(harness) == ["ada.1.1", "ada.1.2", "ada.2.1"]


def test_a_result_for_an_unknown_payment_is_an_inconsistency(harness: Harness) -> None:
    provider_answers(harness, "nobody.1.1", approved=True)

    assert inconsistencies(harness) == [("nobody.1.1", "no such payment was requested")]
    [record] = harness.egress("inconsistencies")
    assert record.value.result == pb.PaymentResult(approved=True, reference="ref-nobody.1.1")
    assert replies_sent(harness) == []
    assert notifications(harness) == []
    assert harness.state(PAYMENT, "nobody.1.1", "progress") == pb.Progress()  # nothing kept


def test_a_second_result_for_a_payment_is_an_inconsistency(harness: Harness) -> None:
    harness.ingest("subscriptions", "ada", GOLD)
    harness.run_until_quiet()
    provider_answers(harness, "ada.1.1", approved=True)
    provider_answers(harness, "ada.1.1", approved=False)

    assert inconsistencies(harness) == [("ada.1.1", "the payment already had a result")]
    assert len(replies_sent(harness)) == 1
    assert notifications(harness) == [(pb.NOTIFICATION_KIND_CHARGED, 1)]


def test_a_provider_that_never_answers_times_the_charge_out(harness: Harness) -> None:
    harness.ingest("subscriptions", "ada", GOLD)
    harness.run_until_quiet()
    harness.advance(CHARGE_TIMEOUT - timedelta(milliseconds=1))
    assert owed_replies(harness, "ada.1.1") == 1
    assert account(harness).timer_id == ""  # still waiting

    harness.advance(timedelta(milliseconds=1))

    # The subscription saw Timeout and plans a retry; the payment forgot the reply it owed.
    assert account(harness).timer_id != ""
    assert notifications(harness) == []
    assert owed_replies(harness, "ada.1.1") == 0

    # The retries ask for the same payment: the provider may have taken the money already.
    for attempt in (2, 3):
        harness.advance(RETRY_AFTER)
        assert requests(harness) == ["ada.1.1"] * attempt
        harness.advance(CHARGE_TIMEOUT)
    assert notifications(harness) == [(pb.NOTIFICATION_KIND_PAYMENT_FAILED, 1)]
    [failed] = harness.egress("notifications")
    assert failed.value.text.endswith("the last one no answer in 0:10:00.")
    assert owed_replies(harness, "ada.1.1") == 0

    # The provider answers at last: nobody waits any more, so it is for a human to reconcile.
    provider_answers(harness, "ada.1.1", approved=True)
    assert inconsistencies(harness) == [
        ("ada.1.1", "no call was waiting: the charge had timed out")
    ]
    assert replies_sent(harness) == []  # never a reply after the deadline
    assert [kind for kind, _ in notifications(harness)] == [pb.NOTIFICATION_KIND_PAYMENT_FAILED]


def test_a_result_after_the_timeout_answers_the_retry(harness: Harness) -> None:
    harness.ingest("subscriptions", "ada", GOLD)
    harness.run_until_quiet()
    harness.advance(CHARGE_TIMEOUT)

    provider_answers(harness, "ada.1.1", approved=True)
    assert inconsistencies(harness) == [
        ("ada.1.1", "no call was waiting: the charge had timed out")
    ]
    assert replies_sent(harness) == []  # the timed-out call gets no late reply

    harness.advance(RETRY_AFTER)
    # The retry asks the same payment, which answers at once from the result it has.
    assert notifications(harness) == [(pb.NOTIFICATION_KIND_CHARGED, 1)]
    assert requests(harness) == ["ada.1.1"]
    assert len(replies_sent(harness)) == 1


def test_a_charge_that_reaches_the_payment_after_its_deadline_is_not_run(
    harness: Harness,
) -> None:
    harness.slow(PAYMENT, CHARGE_TIMEOUT + timedelta(minutes=1), message=pb.PaymentChargeCall)
    harness.ingest("subscriptions", "ada", GOLD)
    harness.run_until_quiet()
    harness.advance(CHARGE_TIMEOUT + timedelta(minutes=1))
    # The subscription gave up: the payment does not ask the provider for a charge nobody
    # waits for any more, and owes nobody a reply.
    assert requests(harness) == []
    assert owed_replies(harness, "ada.1.1") == 0

    provider_answers(harness, "ada.1.1", approved=True)
    assert replies_sent(harness) == []
    assert inconsistencies(harness) == [("ada.1.1", "no such payment was requested")]


def test_a_lost_reply_costs_a_retry_not_a_second_payment(harness: Harness) -> None:
    harness.lose(SUBSCRIPTION, message=pb.PaymentChargeReply)
    harness.ingest("subscriptions", "ada", GOLD)
    harness.run_until_quiet()
    provider_answers(harness, "ada.1.1", approved=True)
    [lost] = harness.faulted
    assert (lost.action, lost.typename) == ("dropped", "type.googleapis.com/" + REPLY)
    assert notifications(harness) == []

    harness.advance(CHARGE_TIMEOUT + RETRY_AFTER)

    assert notifications(harness) == [(pb.NOTIFICATION_KIND_CHARGED, 1)]
    assert requests(harness) == ["ada.1.1"]  # charged once
    assert inconsistencies(harness) == []


def test_a_cancel_during_a_charge_waits_for_its_outcome(harness: Harness) -> None:
    harness.ingest("subscriptions", "ada", GOLD)
    harness.run_until_quiet()
    harness.ingest("cancellations", "ada", pb.Cancel(reason="too expensive"))
    harness.run_until_quiet()
    assert notifications(harness) == []  # held: the charge is in flight

    provider_answers(harness, "ada.1.1", approved=True)

    # The charge was booked and the next period planned, then the cancel stopped it.
    charged, cancelled = pb.NOTIFICATION_KIND_CHARGED, pb.NOTIFICATION_KIND_CANCELLED
    assert notifications(harness) == [(charged, 1), (cancelled, 2)]
    [_, cancel] = harness.egress("notifications")
    assert cancel.value.text == "Your gold subscription is cancelled (too expensive)."
    harness.advance(3 * PERIOD)
    assert requests(harness) == ["ada.1.1"]


def resubscribe_during_a_charge(h: Harness) -> None:
    """Subscribe to gold; while its first charge is in flight, cancel and take silver."""
    h.ingest("subscriptions", "ada", GOLD)
    h.run_until_quiet()
    h.ingest("cancellations", "ada", pb.Cancel(reason="switching plans"))
    h.ingest("subscriptions", "ada", pb.Subscribe(plan="silver", amount_cents=499,
                                                  period_seconds=GOLD.period_seconds))  # fmt: skip
    h.run_until_quiet()


def test_a_new_plan_during_a_charge_starts_after_it(harness: Harness) -> None:
    resubscribe_during_a_charge(harness)
    assert requests(harness) == ["ada.1.1"]  # the cancel and the new plan are held

    provider_answers(harness, "ada.1.1", approved=True)
    assert requests(harness) == ["ada.1.1", "ada.3.1"]  # period 2 of gold was never charged
    provider_answers(harness, "ada.3.1", approved=True)
    harness.advance(PERIOD)

    # One plan is billed, once per period.
    assert requests(harness) == ["ada.1.1", "ada.3.1", "ada.4.1"]
    assert [r.value.amount_cents for r in harness.egress("payment_requests")] == [999, 499, 499]


class NotExclusive(SubscriptionFunction):
    """The same subscription, were `exclusive` left out of billing.sfidl."""

    sfidl_spec = dataclasses.replace(Subscription.sfidl_spec, exclusive=False)


def test_without_exclusive_the_same_story_bills_two_plans() -> None:
    with Harness(BillingApp(subscription=NotExclusive(), payment=PaymentFunction())) as h:
        resubscribe_during_a_charge(h)
        assert requests(h) == ["ada.1.1", "ada.2.1"]  # silver charged while gold's was in flight
        # Gold's continuation plans a next period, and silver's its own.
        provider_answers(h, "ada.1.1", approved=True)
        provider_answers(h, "ada.2.1", approved=True)
        h.advance(PERIOD)
        assert len(requests(h)) == 4  # two requests in one period: what exclusive prevents


def test_a_message_no_handler_takes_goes_to_the_dead_letters(harness: Harness) -> None:
    harness.send(SUBSCRIPTION, "ada", pb.PaymentResult(approved=True))
    harness.run_until_quiet()

    [record] = harness.egress("dead_letters")
    letter = record.value
    assert isinstance(letter, DeadLetter)
    assert (letter.function_typename, letter.function_id) == (SUBSCRIPTION, "ada")
    assert letter.message_typename.endswith("com.example.billing.PaymentResult")


def charge_call(correlation_id: str) -> Envelope:
    call = pb.PaymentChargeCall(
        correlation_id=correlation_id, request=pb.Charge(user_id="ada", amount_cents=999)
    )
    return Envelope(typed(call), (SUBSCRIPTION, "ada"))


def test_a_payment_called_twice_answers_both_calls_from_one_result() -> None:
    """Through the SDK's RequestReplyHandler, with real bytes: the payment is an idempotent callee."""
    driver = Driver(app)

    first = driver.invoke(PAYMENT, "p", charge_call("c.1"))
    again = driver.invoke(PAYMENT, "p", charge_call("c.2"))
    assert outgoing(first) == outgoing(again) == []  # deferred: no answer yet
    # Both ask the provider, with the payment id as the idempotency key.
    for asked in (first, again):
        [egress] = asked.outgoing_egresses
        record = decode(egress.argument, KafkaProducerRecord)
        assert (record.topic, record.key) == ("payment-requests", "p")

    settled = driver.invoke(PAYMENT, "p", pb.PaymentResult(approved=True, reference="r"))
    answers = [decode(argument, pb.PaymentChargeReply) for _, _, argument in outgoing(settled)]
    assert [(a.correlation_id, a.reply.reference) for a in answers] == [("c.1", "r"), ("c.2", "r")]

    # Called once more after the result: answered at once, from it, asking nobody.
    late = driver.invoke(PAYMENT, "p", charge_call("c.3"))
    [(target, target_id, argument)] = outgoing(late)
    assert (target, target_id) == (SUBSCRIPTION, "ada")
    assert decode(argument, pb.PaymentChargeReply).reply.reference == "r"
    assert len(late.outgoing_egresses) == 0


def test_the_app_passes_mypy_strict() -> None:
    with tempfile.TemporaryDirectory() as cache:
        result = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--cache-dir", cache]
            + ["--config-file", str(REPO / "pyproject.toml"), "--show-error-codes"]
            + [str(HERE / "billing_app.py")],
            cwd=REPO,
            env={**os.environ, "MYPYPATH": os.pathsep.join([str(HERE), str(HERE / "gen")])},
            capture_output=True,
            text=True,
        )
    assert result.returncode == 0, result.stdout + result.stderr
