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
    SubscriptionChargedContext,
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

# The members that start a charge.
Charging = SubscriptionSubscribeContext | SubscriptionBillContext


def new_bill(user_id: str, period: int, attempt: int, due: Timestamp) -> pb.Bill:
    """An attempt at a period with a new payment (its id: user, period and attempt)."""
    payment_id = f"{user_id}.{period}.{attempt}"
    return pb.Bill(period=period, attempt=attempt, due=due, payment_id=payment_id)


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
        self._charge(ctx, new_bill(ctx.id, account.periods, 1, account.due))

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
        ctx: SubscriptionChargedContext,
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
                self._schedule(ctx, new_bill(ctx.id, account.periods, 1, account.due))
                return
            case DeclinedError():
                problem = f"declined: {outcome.detail.reason}"
                retry = new_bill(ctx.id, carried.period, carried.attempt + 1, carried.due)
            case Timeout():
                problem = f"no answer in {outcome.after}"
                # The provider may have taken the money all the same: ask again for the
                # same payment, which the provider charges at most once.
                retry = pb.Bill()
                retry.CopyFrom(carried)
                retry.attempt += 1
            case _:
                assert_never(outcome)
        if carried.attempt < MAX_ATTEMPTS:
            log.info(
                "%s: period %d, attempt %d %s", ctx.id, carried.period, carried.attempt, problem
            )
            account.timer_id = ctx.timers.bill.after(RETRY_AFTER, retry)
            return
        account.active = False
        ctx.egress.notifications.write(
            pb.Notification(
                user_id=ctx.id,
                kind=pb.NOTIFICATION_KIND_PAYMENT_FAILED,
                period=carried.period,
                text=f"Your {account.plan} subscription is cancelled: "
                f"{MAX_ATTEMPTS} attempts to pay failed, the last one {problem}.",
            )
        )

    def _charge(self, ctx: Charging, bill: pb.Bill) -> None:
        account = ctx.state.account
        charge = pb.Charge(user_id=ctx.id, plan=account.plan, amount_cents=account.amount_cents)
        ctx.functions.payment(bill.payment_id).charge(charge, carry=bill)

    def _schedule(self, ctx: SubscriptionChargedContext, bill: pb.Bill) -> None:
        delay = max(when(bill.due) - ctx.now, timedelta(0))
        ctx.state.account.timer_id = ctx.timers.bill.after(delay, bill)


class PaymentFunction(Payment):
    """One payment: asks the provider, answers every call for it with the provider's result.

    The payment id is the provider's idempotency key, so asking again is safe: a caller
    that timed out can call again and gets the one result, whenever it comes.
    """

    def charge(
        self, ctx: PaymentChargeContext, request: pb.Charge
    ) -> pb.Charged | DeclinedError | Deferred:
        progress = ctx.state.progress
        if progress.HasField("result"):
            return answer(ctx.id, progress.result)
        live = still_waiting(progress, ctx.now)
        deferred = ctx.defer()
        waiter = pb.Waiter(reply_id=deferred.id)
        if ctx.deadline is not None:
            waiter.deadline.CopyFrom(timestamp(ctx.deadline))
        del progress.waiting[:]
        progress.waiting.extend([*live, waiter])
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
        for waiter in still_waiting(progress, ctx.now):
            reply_id = ReplyId(waiter.reply_id)
            match answer(ctx.id, message):
                case pb.Charged() as charged:
                    answered += ctx.replies.charge.reply(reply_id, charged)
                case DeclinedError() as declined:
                    answered += ctx.replies.charge.fail(reply_id, declined)
                case unexpected:
                    assert_never(unexpected)
        del progress.waiting[:]
        if not answered:
            # Its callers gave up: one may call again (and get this result), or not.
            report(ctx, message, "no call was waiting: the charge had timed out")


def still_waiting(progress: pb.Progress, now: datetime) -> list[pb.Waiter]:
    """The calls whose callers still wait: the runtime forgets a deferred reply at its
    caller's deadline, and so does the payment."""
    return [w for w in progress.waiting if not w.HasField("deadline") or when(w.deadline) > now]


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
