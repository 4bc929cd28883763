"""The local runtime: plays the StateFun cluster's part on one machine.

It speaks the real request/reply protocol (``ToFunction``/``FromFunction`` bytes, the
missing-state handshake, batches) to an application in-process or over HTTP, and keeps
state, queues, delayed messages and egress output in SQLite, committing the effects of
each invocation batch in one transaction. It reads only the application's
:class:`~sfidl.runtime.manifest.Manifest`, never the compiler.
"""

from sfidl.local.app import LocalApp
from sfidl.local.errors import IngressError, JobFailure, LocalRuntimeError
from sfidl.local.records import Address, Delivery, EgressRecord, Faulted

__all__ = [
    "Address",
    "Delivery",
    "EgressRecord",
    "Faulted",
    "IngressError",
    "JobFailure",
    "LocalApp",
    "LocalRuntimeError",
]
