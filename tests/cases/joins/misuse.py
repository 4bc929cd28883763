"""A join's calls go in the declared order; an outcome is a union to narrow."""

import joins_pb2 as pb
from joins_sfidl import FraudCheckContext, MerchantScoreOutcome


def check(ctx: FraudCheckContext, message: pb.Transaction) -> None:
    count = (message.account, pb.CountRequest(account=message.account))
    score = (message.merchant, pb.ScoreRequest(merchant=message.merchant))
    ctx.joins.scored(score, count, carry=message)  # E: [arg-type]  # E: [arg-type]


def risk(score: MerchantScoreOutcome) -> float:
    return score.risk  # E: [union-attr]
