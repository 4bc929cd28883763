"""A join starts its calls together; the continuation gets a tuple of outcomes in call order."""

from datetime import timedelta

import joins_pb2 as pb
from joins_sfidl import (
    Counter,
    CounterContext,
    CounterCountOutcome,
    Fraud,
    FraudCheckContext,
    JoinsApp,
    Merchant,
    MerchantContext,
    MerchantScoreOutcome,
    UnknownError,
)


class CounterImpl(Counter):
    def count(self, ctx: CounterContext, request: pb.CountRequest) -> pb.Count:
        return pb.Count(recent=1)


class MerchantImpl(Merchant):
    def score(self, ctx: MerchantContext, request: pb.ScoreRequest) -> pb.Score | UnknownError:
        return pb.Score(risk=0.1)


class FraudImpl(Fraud):
    def check(self, ctx: FraudCheckContext, message: pb.Transaction) -> None:
        count = (message.account, pb.CountRequest(account=message.account))
        score = (message.merchant, pb.ScoreRequest(merchant=message.merchant))
        ctx.joins.scored(count, score, carry=message)
        ctx.joins.scored(count, score, carry=message, timeout=timedelta(seconds=1))

    def scored(
        self,
        ctx: FraudCheckContext,
        outcomes: tuple[CounterCountOutcome, MerchantScoreOutcome],
        requests: tuple[pb.CountRequest, pb.ScoreRequest],
        carried: pb.Transaction,
    ) -> None:
        count, score = outcomes
        if isinstance(count, pb.Count) and isinstance(score, pb.Score):
            blocked = count.recent > 10 or score.risk * carried.amount > 1000
            ctx.egress.verdicts.write(pb.Verdict(blocked=blocked))


app = JoinsApp(counter=CounterImpl(), merchant=MerchantImpl(), fraud=FraudImpl())
