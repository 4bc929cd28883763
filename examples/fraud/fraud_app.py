"""Fraud detection: per transaction, ask the account's fraud counter and the merchant's
scorer at once, feed both answers to the model, alert when the score passes the threshold.

Run it locally: sfidl run examples/fraud/fraud.sfidl --app fraud_app
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import assert_never

import fraud_pb2 as pb
from fraud_sfidl import (
    FraudApp,
    FraudCounter,
    FraudCounterConfirmContext,
    FraudCounterContext,
    FraudCounterRecentOutcome,
    MerchantScorer,
    MerchantScorerContext,
    MerchantScorerScoreOutcome,
    Model,
    ModelContext,
    ModelScoreOutcome,
    Timeout,
    TransactionManager,
    TransactionManagerCheckContext,
    UnknownMerchantError,
)

log = logging.getLogger(__name__)

FRAUD_MEMORY = timedelta(days=30)
ALERT_THRESHOLD = 0.7
MODEL_ID = "default"


class FraudCounterFunction(FraudCounter):
    """Confirmed frauds of one account over a rolling 30 days."""

    def recent(self, ctx: FraudCounterContext, request: pb.RecentFraudQuery) -> pb.RecentFraud:
        return pb.RecentFraud(count=ctx.state.count)

    def confirm(self, ctx: FraudCounterConfirmContext, message: pb.ConfirmFraud) -> None:
        ctx.state.count += 1
        ctx.timers.forget.after(FRAUD_MEMORY, pb.ForgetFraud(transaction_id=message.transaction_id))

    def forget(self, ctx: FraudCounterContext, message: pb.ForgetFraud) -> None:
        ctx.state.count = max(0, ctx.state.count - 1)


class MerchantScorerFunction(MerchantScorer):
    """A moving average of the reports on one merchant."""

    def score(self, ctx: MerchantScorerContext, request: pb.MerchantQuery) -> pb.MerchantScore:
        if not ctx.state.known:
            raise UnknownMerchantError(pb.UnknownMerchant(merchant_id=ctx.id))
        return pb.MerchantScore(score=ctx.state.score)

    def report(self, ctx: MerchantScorerContext, message: pb.MerchantReport) -> None:
        previous = ctx.state.score if ctx.state.known else message.score
        ctx.state.score = 0.8 * previous + 0.2 * message.score
        ctx.state.known = True


class ModelFunction(Model):
    """A stand-in for a trained model: a fixed weighting of the features."""

    def score(self, ctx: ModelContext, request: pb.Features) -> pb.FraudScore:
        merchant = request.merchant_score if request.merchant_known else 0.5
        score = (
            0.5 * min(request.recent_fraud, 3) / 3
            + 0.3 * merchant
            + 0.2 * min(request.amount_cents / 100_000, 1.0)
        )
        return pb.FraudScore(score=round(score, 6))


class TransactionManagerFunction(TransactionManager):
    """Gathers the features of one transaction and asks the model."""

    def check(self, ctx: TransactionManagerCheckContext, message: pb.Transaction) -> None:
        ctx.joins.features(
            (message.account_id, pb.RecentFraudQuery()),
            (message.merchant_id, pb.MerchantQuery()),
            carry=message,
        )

    def features(
        self,
        ctx: TransactionManagerCheckContext,
        outcomes: tuple[FraudCounterRecentOutcome, MerchantScorerScoreOutcome],
        requests: tuple[pb.RecentFraudQuery, pb.MerchantQuery],
        carried: pb.Transaction,
    ) -> None:
        recent, merchant = outcomes
        features = pb.Features(amount_cents=carried.amount_cents)
        match recent:
            case pb.RecentFraud():
                features.recent_fraud = recent.count
            case Timeout():
                log.warning("%s: no fraud count in %s", carried.transaction_id, recent.after)
            case _:
                assert_never(recent)
        match merchant:
            case pb.MerchantScore():
                features.merchant_score = merchant.score
                features.merchant_known = True
            case UnknownMerchantError() | Timeout():
                features.merchant_known = False
            case _:
                assert_never(merchant)
        ctx.functions.model(MODEL_ID).score(features, carry=carried)

    def scored(
        self,
        ctx: TransactionManagerCheckContext,
        outcome: ModelScoreOutcome,
        request: pb.Features,
        carried: pb.Transaction,
    ) -> None:
        match outcome:
            case pb.FraudScore() if outcome.score >= ALERT_THRESHOLD:
                alert = pb.Alert(
                    transaction_id=carried.transaction_id,
                    account_id=carried.account_id,
                    score=outcome.score,
                )
                ctx.egress.alerts.write(alert, key=carried.account_id)
            case pb.FraudScore():
                pass
            case Timeout():
                log.warning(
                    "%s: the model did not answer in %s", carried.transaction_id, outcome.after
                )
            case _:
                assert_never(outcome)


app = FraudApp(
    fraud_counter=FraudCounterFunction(),
    merchant_scorer=MerchantScorerFunction(),
    model=ModelFunction(),
    transaction_manager=TransactionManagerFunction(),
)

if __name__ == "__main__":
    app.serve(port=8000)
