"""Fraud detection end to end on the in-process harness (the local runtime's engine)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import fraud_pb2 as pb
import pytest
import statefun
from fraud_app import (
    FRAUD_MEMORY,
    FraudCounterFunction,
    MerchantScorerFunction,
    ModelFunction,
    TransactionManagerFunction,
    app,
)
from fraud_sfidl import FraudApp, FraudCounterConfirmContext, MerchantScorerContext

from sfidl.testing import Harness
from tests.protocol import Driver

COUNTER = "com.example.fraud/fraud_counter"
SCORER = "com.example.fraud/merchant_scorer"
MANAGER = "com.example.fraud/transaction_manager"


@pytest.fixture
def harness() -> Iterator[Harness]:
    with Harness(app) as h:
        yield h


def transaction(
    id: str, *, account: str = "acct-1", merchant: str = "shady", cents: int = 90_000
) -> pb.Transaction:
    return pb.Transaction(
        transaction_id=id, account_id=account, merchant_id=merchant, amount_cents=cents
    )


def alerts(harness: Harness) -> list[pb.Alert]:
    return [record.value for record in harness.egress("alerts")]


def test_a_risky_transaction_raises_an_alert(harness: Harness) -> None:
    harness.ingest("merchant_reports", "shady", pb.MerchantReport(score=1.0))
    for fraud in ("t0", "t1", "t2"):
        harness.ingest("confirmed_fraud", "acct-1", pb.ConfirmFraud(transaction_id=fraud))
    harness.ingest("transactions", "t3", transaction("t3"))
    harness.run_until_quiet()

    [alert] = alerts(harness)
    assert (alert.transaction_id, alert.account_id) == ("t3", "acct-1")
    assert alert.score == pytest.approx(0.5 + 0.3 + 0.2 * 0.9)
    [record] = harness.egress("alerts")
    assert record.key == "acct-1"


def test_an_ordinary_transaction_raises_none(harness: Harness) -> None:
    harness.ingest("merchant_reports", "corner-shop", pb.MerchantReport(score=0.0))
    harness.ingest("transactions", "t1", transaction("t1", merchant="corner-shop", cents=1_000))
    harness.run_until_quiet()

    assert alerts(harness) == []
    # Both questions were asked at once, then the model.
    asked = [(d.target.typename, d.typename.rsplit(".", 1)[-1]) for d in harness.sent]
    assert ("com.example.fraud/fraud_counter", "FraudCounterRecentCall") in asked
    assert ("com.example.fraud/merchant_scorer", "MerchantScorerScoreCall") in asked
    assert ("com.example.fraud/model", "ModelScoreCall") in asked


def test_an_unknown_merchant_is_scored_as_a_declared_error_not_a_failure(harness: Harness) -> None:
    harness.ingest("transactions", "t1", transaction("t1", merchant="nobody"))
    harness.run_until_quiet()

    replies = [d for d in harness.sent if d.typename.endswith("MerchantScorerScoreReply")]
    assert [r.value.WhichOneof("outcome") for r in replies] == ["unknown_merchant"]
    assert alerts(harness) == []  # 0.3 * 0.5 + 0.2 * 0.9 stays under the threshold


def test_a_slow_merchant_scorer_times_out_and_its_late_answer_is_dropped(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.ingest("merchant_reports", "shady", pb.MerchantReport(score=1.0))
    for fraud in ("t0", "t1", "t2"):
        harness.ingest("confirmed_fraud", "acct-1", pb.ConfirmFraud(transaction_id=fraud))
    harness.run_until_quiet()
    # The scorer answers at once, but its answer takes 10 s to come back.
    harness.slow(MANAGER, timedelta(seconds=10), message=pb.MerchantScorerScoreReply)

    harness.ingest("transactions", "t3", transaction("t3"))
    harness.run_until_quiet()
    assert alerts(harness) == []  # the join waits for the merchant's score

    harness.advance(timedelta(seconds=2))  # the join's timeout: scored as an unknown merchant
    [alert] = alerts(harness)
    assert alert.score == pytest.approx(0.5 + 0.3 * 0.5 + 0.2 * 0.9)

    with caplog.at_level("WARNING", logger="sfidl.runtime"):
        harness.advance(timedelta(seconds=10))  # the score arrives late and is dropped
    assert len(alerts(harness)) == 1
    late = [d for d in harness.sent if d.typename.endswith("MerchantScorerScoreReply")]
    assert len(late) == 1 and late[0].target.typename == MANAGER
    assert "dropped a reply" in caplog.text


def test_confirmed_fraud_is_forgotten_after_thirty_days(harness: Harness) -> None:
    harness.ingest("confirmed_fraud", "acct-1", pb.ConfirmFraud(transaction_id="t0"))
    harness.run_until_quiet()
    assert harness.state(COUNTER, "acct-1", "count") == 1

    harness.advance(FRAUD_MEMORY - timedelta(seconds=1))
    assert harness.state(COUNTER, "acct-1", "count") == 1
    harness.advance(timedelta(seconds=1))
    assert harness.state(COUNTER, "acct-1", "count") == 0


class IntScorer(MerchantScorerFunction):
    def report(self, ctx: MerchantScorerContext, message: pb.MerchantReport) -> None:
        ctx.state.score = 1  # mypy accepts an int for a float: so must the runtime
        ctx.state.known = True


class BoolCounter(FraudCounterFunction):
    def confirm(self, ctx: FraudCounterConfirmContext, message: pb.ConfirmFraud) -> None:
        ctx.state.count = True  # a bool is no int32 (mypy would say so too)


def test_a_double_state_takes_an_int_and_an_int_state_refuses_a_bool() -> None:
    driver = Driver(
        FraudApp(
            fraud_counter=BoolCounter(),
            merchant_scorer=IntScorer(),
            model=ModelFunction(),
            transaction_manager=TransactionManagerFunction(),
        )
    )
    driver.invoke(SCORER, "shop", pb.MerchantReport(score=0.5))
    assert (
        statefun.DoubleType.serializer().deserialize(driver.state[(SCORER, "shop")]["score"].value)
        == 1.0
    )
    with pytest.raises(TypeError, match="state 'count' holds int values, not bool"):
        driver.invoke(COUNTER, "acct", pb.ConfirmFraud(transaction_id="t"))
