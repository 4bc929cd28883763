"""Subscription billing: a per-user subscription charges a payment once per period; the
payment asks the provider over Kafka and answers when the provider's result comes back.

Run it locally:      sfidl run examples/billing/billing.sfidl --app billing_app
Serve it to StateFun: python examples/billing/billing_app.py  (with gen/ on PYTHONPATH)
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import assert_never

import billing_pb2 as pb
from billing_sfidl import (
    BillingApp,
    DeclinedError,
    Payment,
    PaymentChargeContext,
    PaymentChargeOutcome,
    PaymentResultContext,
    Subscription,
    SubscriptionBillContext,
    SubscriptionCancelContext,
    SubscriptionSubscribeContext,
    Timeout,
    TimerId,
)
from google.protobuf.timestamp_pb2 import Timestamp

from sfidl.runtime import Deferred, ReplyId

log = logging.getLogger(__name__)

# A period is charged at most this many times before the subscription is cancelled.
MAX_ATTEMPTS = 3
# How long after a declined or unanswered charge the next attempt is made.
RETRY_AFTER = timedelta(hours=1)

# What every member that charges may do (the continuation `charged` gets the same).
Charging = SubscriptionSubscribeContext | SubscriptionBillContext


def payment_id(user_id: str, bill: pb.Bill) -> str:
    """One payment per attempt at a period: a retry is a new payment, never a repeated one."""
    return f"{user_id}.{bill.period}.{bill.attempt}"


def timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def when(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=timezone.utc)


def cents(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


class SubscriptionFunction(Subscription):
    """One user's subscription: charges each period, retries, cancels when it cannot.

    The function is exclusive: while a charge is in flight a Cancel waits, so the
    continuation `charged` never finds the account changed under it.
    """

    def subscribe(self, ctx: SubscriptionSubscribeContext, message: pb.Subscribe) -> None:
        account = ctx.state.account
        if account.active:
            log.info("%s: already subscribed to %s", ctx.id, account.plan)
            return
        if message.period_seconds <= 0 or message.amount_cents <= 0:
            log.warning("%s: no billing period or amount in %s", ctx.id, message)
            return
        account.active = True
        account.plan = message.plan
        account.amount_cents = message.amount_cents
        account.period_seconds = message.period_seconds
        account.periods += 1
        account.due.CopyFrom(timestamp(ctx.now))
        self._charge(ctx, pb.Bill(period=account.periods, attempt=1, due=account.due))

    def cancel(self, ctx: SubscriptionCancelContext, message: pb.Cancel) -> None:
        account = ctx.state.account
        if not account.active:
            log.info("%s: nothing to cancel", ctx.id)
            return
        # Exclusive: no charge is in flight here, so the next one is a timer to cancel.
        if account.timer_id:
            ctx.timers.bill.cancel(TimerId(account.timer_id))
            account.timer_id = ""
        account.active = False
        ctx.egress.notifications.write(
            pb.Notification(
                user_id=ctx.id,
                kind=pb.NOTIFICATION_KIND_CANCELLED,
                period=account.periods,
                text=f"Your {account.plan} subscription is cancelled ({message.reason}).",
            )
        )

    def bill(self, ctx: SubscriptionBillContext, message: pb.Bill) -> None:
        account = ctx.state.account
        account.timer_id = ""  # it fired
        if not account.active:
            log.warning("%s: billing timer for a cancelled subscription", ctx.id)
            return
        self._charge(ctx, message)

    def charged(
        self,
        ctx: SubscriptionSubscribeContext,
        outcome: PaymentChargeOutcome,
        request: pb.Charge,
        carried: pb.Bill,
    ) -> None:
        account = ctx.state.account
        match outcome:
            case pb.Charged():
                ctx.egress.notifications.write(
                    pb.Notification(
                        user_id=ctx.id,
                        kind=pb.NOTIFICATION_KIND_CHARGED,
                        period=carried.period,
                        text=f"{account.plan}: {cents(request.amount_cents)} paid"
                        f" (reference {outcome.reference}).",
                    )
                )
                # The next period is due a period after this one was, however late it was paid.
                due = when(carried.due) + timedelta(seconds=account.period_seconds)
                account.periods += 1
                account.due.CopyFrom(timestamp(due))
                self._schedule(ctx, pb.Bill(period=account.periods, attempt=1, due=account.due))
                return
            case DeclinedError():
                problem = f"declined: {outcome.detail.reason}"
            case Timeout():
                problem = f"no answer in {outcome.after}"
            case _:
                assert_never(outcome)
        if carried.attempt < MAX_ATTEMPTS:
            log.info(
                "%s: period %d, attempt %d %s", ctx.id, carried.period, carried.attempt, problem
            )
            retry = pb.Bill(period=carried.period, attempt=carried.attempt + 1, due=carried.due)
            account.timer_id = ctx.timers.bill.after(RETRY_AFTER, retry)
            return
        account.active = False
        ctx.egress.notifications.write(
            pb.Notification(
                user_id=ctx.id,
                kind=pb.NOTIFICATION_KIND_PAYMENT_FAILED,
                period=carried.period,
                text=f"Your {account.plan} subscription is cancelled: "
                f"{MAX_ATTEMPTS} payments failed, the last one {problem}.",
            )
        )

    def _charge(self, ctx: Charging, bill: pb.Bill) -> None:
        account = ctx.state.account
        charge = pb.Charge(user_id=ctx.id, plan=account.plan, amount_cents=account.amount_cents)
        ctx.functions.payment(payment_id(ctx.id, bill)).charge(charge, carry=bill)

    def _schedule(self, ctx: SubscriptionSubscribeContext, bill: pb.Bill) -> None:
        delay = max(when(bill.due) - ctx.now, timedelta(0))
        ctx.state.account.timer_id = ctx.timers.bill.after(delay, bill)


class PaymentFunction(Payment):
    """One payment: asks the provider once, answers every call for it with the provider's result."""

    def charge(
        self, ctx: PaymentChargeContext, request: pb.Charge
    ) -> pb.Charged | DeclinedError | Deferred:
        progress = ctx.state.progress
        if progress.HasField("result"):
            # Asked again after the provider answered: the same answer, and no second request.
            return answer(ctx.id, progress.result)
        deferred = ctx.defer()
        progress.reply_ids.append(deferred.id)
        if not progress.HasField("charge"):
            progress.charge.CopyFrom(request)
            ctx.egress.payment_requests.write(
                pb.PaymentRequest(
                    payment_id=ctx.id,
                    user_id=request.user_id,
                    amount_cents=request.amount_cents,
                    requested_at=timestamp(ctx.now),
                )
            )
        return deferred

    def result(self, ctx: PaymentResultContext, message: pb.PaymentResult) -> None:
        progress = ctx.state.progress
        if not progress.HasField("charge"):
            report(ctx, message, "no such payment was requested")
            return
        if progress.HasField("result"):
            report(ctx, message, "the payment already had a result")
            return
        progress.result.CopyFrom(message)
        answered = 0
        for reply_id in progress.reply_ids:
            match answer(ctx.id, message):
                case pb.Charged() as charged:
                    answered += ctx.replies.charge.reply(ReplyId(reply_id), charged)
                case DeclinedError() as declined:
                    answered += ctx.replies.charge.fail(ReplyId(reply_id), declined)
                case unexpected:
                    assert_never(unexpected)
        del progress.reply_ids[:]
        if not answered:
            # Every call for it had timed out: its caller gave up, maybe paid another way.
            report(ctx, message, "the result came after the charge had timed out")


def answer(payment_id: str, result: pb.PaymentResult) -> pb.Charged | DeclinedError:
    if result.approved:
        return pb.Charged(reference=result.reference)
    return DeclinedError(pb.Declined(payment_id=payment_id, reason=result.reason))


def report(ctx: PaymentResultContext, result: pb.PaymentResult, problem: str) -> None:
    log.warning("payment %s: %s", ctx.id, problem)
    ctx.egress.inconsistencies.write(
        pb.Inconsistency(payment_id=ctx.id, result=result, problem=problem)
    )


app = BillingApp(subscription=SubscriptionFunction(), payment=PaymentFunction())

if __name__ == "__main__":
    app.serve(port=8000)
