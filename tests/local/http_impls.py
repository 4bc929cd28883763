"""Implementations of ``http_local.sfidl``; imported once the ``http_local`` fixture compiled it.

Counter.add adds to its total and writes it to ``counts`` (to ``audit`` too when asked):
two egresses on one topic.
"""

from __future__ import annotations

import http_local_pb2 as pb
import http_local_sfidl as gen

COUNTER = "test.http_local/counter"
ADD = "type.googleapis.com/test.http_local.Add"


class Counter(gen.Counter):
    def add(self, ctx: gen.CounterAddContext, message: pb.Add) -> None:
        ctx.state.total += message.by
        count = pb.Count(id=ctx.id, total=ctx.state.total)
        ctx.egress.counts.write(count)
        if message.audit:
            ctx.egress.audit.write(count)

    def get(self, ctx: gen.CounterContext, request: pb.Ask) -> pb.Count:
        return pb.Count(id=ctx.id, total=ctx.state.total)


def app() -> gen.HttpLocalApp:
    return gen.HttpLocalApp(counter=Counter())
