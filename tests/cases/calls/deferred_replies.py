"""Deferred replies: only a deferring rpc may return sf.Deferred, only a completing member
completes, with the rpc's reply type or one of its declared errors, by a ReplyId."""

import calls_pb2 as pb
import calls_sfidl as gen

import sfidl.runtime as sf


def unlock(ctx: gen.VaultUnlockContext, id: sf.ReplyId) -> None:
    ctx.replies.open.reply(id, pb.Answer())
    ctx.replies.open.fail(id, gen.NotFoundError(pb.NotFound()))
    ctx.replies.open.reply(id, pb.Peeked())  # E: [arg-type]
    ctx.replies.open.fail(id, gen.ForbiddenError(pb.Forbidden()))  # E: [arg-type]
    ctx.replies.open.reply("1", pb.Answer())  # E: [arg-type]
    ctx.replies.check  # E: "VaultUnlockReplies" has no attribute "check"


def release(ctx: gen.DeskReleaseContext, id: sf.ReplyId) -> None:
    ctx.replies.wait.reply(id, pb.Answer())
    ctx.replies.wait.fail(id, gen.NotFoundError(pb.NotFound()))  # E: [arg-type]


def completed(ctx: gen.VaultUnlockContext, id: sf.ReplyId) -> bool:
    return ctx.replies.open.reply(id, pb.Answer())


class Vault(gen.Vault):
    def open(self, ctx: gen.VaultOpenContext, request: pb.Ask) -> pb.Answer | gen.NotFoundError | sf.Deferred:
        return ctx.defer()

    def check(self, ctx: gen.VaultContext, request: pb.Ask) -> pb.Answer | sf.Deferred:  # E: Return type
        return pb.Answer()


class Other(gen.Other):
    def peek(self, ctx: gen.OtherContext, request: pb.Ask) -> pb.Peeked | gen.ForbiddenError:
        return gen.ForbiddenError(pb.Forbidden())

    def size(self, ctx: gen.OtherContext, request: pb.Ask) -> pb.Answer | gen.NotFoundError:  # E: Return type
        return pb.Answer()
