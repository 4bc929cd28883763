"""What generated ``<name>_sfidl.py`` modules import: contexts, state, calls, the application.

User code rarely imports this module directly: the generated stubs re-export what a
handler needs (``Timeout``, the error classes, ``TimerId``).
"""

from typing import Never  # the error type of PendingReplies for an rpc that raises none

from sfidl.runtime.app import Application, Function
from sfidl.runtime.calls import CallId
from sfidl.runtime.context import (
    Context,
    Egress,
    Egresses,
    FunctionClient,
    Functions,
    Joins,
    Replies,
    Timer,
    TimerId,
    Timers,
)
from sfidl.runtime.errors import RpcError, Timeout, UndeclaredEffect
from sfidl.runtime.internal_pb2 import DeadLetter
from sfidl.runtime.manifest import EgressManifest, IngressManifest, IoKind, Manifest
from sfidl.runtime.replies import Deferred, PendingReplies, ReplyId
from sfidl.runtime.spec import (
    Continuation,
    Effects,
    FunctionSpec,
    MaybeAwaitable,
    OneWay,
    RequestReply,
    Rpc,
)
from sfidl.runtime.spec import Timer as TimerSpec
from sfidl.runtime.state import MessageState, ScalarState, State
from sfidl.runtime.types import BOOL, DOUBLE, FLOAT, INT32, INT64, STRING
from sfidl.wire import Address

__all__ = [
    "BOOL",
    "DOUBLE",
    "FLOAT",
    "INT32",
    "INT64",
    "STRING",
    "Address",
    "Application",
    "CallId",
    "Context",
    "DeadLetter",
    "Continuation",
    "Deferred",
    "Effects",
    "Egress",
    "EgressManifest",
    "Egresses",
    "Function",
    "FunctionClient",
    "FunctionSpec",
    "Functions",
    "IngressManifest",
    "IoKind",
    "Joins",
    "Manifest",
    "MaybeAwaitable",
    "MessageState",
    "Never",
    "OneWay",
    "PendingReplies",
    "Replies",
    "ReplyId",
    "RequestReply",
    "Rpc",
    "RpcError",
    "ScalarState",
    "State",
    "Timeout",
    "Timer",
    "TimerId",
    "TimerSpec",
    "Timers",
    "UndeclaredEffect",
]
