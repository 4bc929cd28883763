"""Errors of the local runtime; each message says where and why, for printing without a traceback."""

from __future__ import annotations


class LocalRuntimeError(Exception):
    """Base class: the local runtime cannot go on (bad options, bad input, a failed job)."""


class JobFailure(LocalRuntimeError):
    """A function's response would make the real StateFun runtime fail the job.

    Nothing of the offending batch was applied; after a restart the same batch runs again,
    as it would on the cluster.
    """


class IngressError(LocalRuntimeError):
    """An ingress record or request that cannot be delivered; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class StoreError(LocalRuntimeError):
    """The local runtime's database cannot be used: the message names the file and what to do.

    Raised where it happens; nothing the failing operation wrote was committed, so nothing
    it would have acknowledged was, and a restart (with the cause fixed) carries on.
    """
