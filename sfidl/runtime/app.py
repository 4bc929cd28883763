"""The application object: function implementations bound onto the official StateFun SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

import statefun

from sfidl.runtime.dispatch import ingress_typenames, invoker
from sfidl.runtime.http import MAX_BODY_BYTES, web_app
from sfidl.runtime.invocation import Deployment, keeps_runtime_state, runtime_state_spec
from sfidl.runtime.manifest import Manifest
from sfidl.runtime.spec import FunctionSpec, RequestReply, Rpc
from sfidl.runtime.state import MessageState, ScalarState, StateField, upgrade_method
from sfidl.wire import is_typename


class Function:
    """Base of the generated abstract function classes; ``sfidl_spec`` says what the IDL declared.

    (Names starting with ``sfidl`` are reserved in the IDL, so no handler can hide it.)
    """

    sfidl_spec: ClassVar[FunctionSpec]


class Application:
    """Every function of a program, ready to serve StateFun's request/reply protocol.

    The generated subclass takes one implementation per declared function as keyword
    arguments, so a missing one is a type error. ``playground=True`` writes egress
    records the way the StateFun playground image expects instead of Kafka/Kinesis ones.
    """

    def __init__(
        self, manifest: Manifest, implementations: Iterable[Function], *, playground: bool = False
    ) -> None:
        for typename in _typenames(manifest):
            check_typename(typename)
        self._manifest = manifest
        self._deployment = Deployment(manifest, playground=playground)
        self._functions = statefun.StatefulFunctions()
        self._state_types: dict[str, dict[str, Any]] = {}
        self._specs: dict[str, FunctionSpec] = {}
        for implementation in implementations:
            spec = type(implementation).sfidl_spec
            check_typename(spec.typename)
            for rpc in _rpcs(spec):
                check_typename(rpc.function)
            if spec.typename in self._state_types:
                raise ValueError(f"two implementations of {spec.typename}")
            fields: tuple[StateField[Any], ...] = spec.state.sfidl_states()
            specs = [field.value_spec() for field in fields]
            specs += [f.previous_spec() for f in fields if f.previous_type is not None]
            if keeps_runtime_state(spec):
                specs.append(runtime_state_spec())
            self._deployment.upgrades[spec.typename] = _upgrades(implementation, spec)
            self._functions.register(
                spec.typename, invoker(implementation, spec, self._deployment), specs
            )
            self._state_types[spec.typename] = {s.name: s.type for s in specs}
            self._specs[spec.typename] = spec
        missing = set(manifest.functions) - set(self._state_types)
        if missing:
            raise ValueError(f"no implementation for {', '.join(sorted(missing))}")
        self._handler = statefun.RequestReplyHandler(self._functions)

    def use_clock(self, now_ms: Callable[[], int]) -> None:
        """Read time from ``now_ms`` (milliseconds since the epoch) instead of the wall clock.

        ``ctx.now`` and call deadlines use it; the local runtime and the Harness pass
        their virtual clock, so handlers see the time the test set.
        """
        self._deployment.now_ms = now_ms

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    @property
    def deployment(self) -> Deployment:
        """How the application is deployed: its manifest, egress record format and clock."""
        return self._deployment

    @property
    def typenames(self) -> tuple[str, ...]:
        """The function types this application serves."""
        return tuple(self._state_types)

    def ingress_typenames(self, typename: str) -> frozenset[str]:
        """The message typenames function type ``typename`` takes from an ingress: its
        one-way handlers' requests, as protobuf and as proto3 JSON (``...+json``)."""
        return ingress_typenames(self._specs[typename])

    def state_types(self, typename: str) -> Mapping[str, Any]:
        """The SDK ``Type`` of each state function type ``typename`` declares (the hidden one too, if it keeps one)."""
        return self._state_types[typename]

    def function_spec(self, typename: str) -> FunctionSpec:
        """What the IDL declared of function type ``typename`` (its states, handlers...)."""
        return self._specs[typename]

    def state_defaults(self, typename: str) -> dict[str, object]:
        """What each state function type ``typename`` declares reads as when absent or expired:
        a scalar's declared default, a new empty message for a message state (hidden one not included).
        """
        return {
            field.name: field.message_type() if isinstance(field, MessageState) else field.default
            for field in self._specs[typename].state.sfidl_states()
            if isinstance(field, MessageState | ScalarState)
        }

    @property
    def stateful_functions(self) -> Any:
        """The SDK's ``StatefulFunctions`` registry the implementations are bound onto."""
        return self._functions

    @property
    def request_reply_handler(self) -> Any:
        """The SDK's ``RequestReplyHandler``: serve ``handle_async`` from any HTTP server."""
        return self._handler

    async def handle(self, request: bytes) -> bytes:
        """One ``ToFunction`` request in, its ``FromFunction`` response out (bytes)."""
        result: bytes = await self._handler.handle_async(request)
        return result

    def handle_sync(self, request: bytes) -> bytes:
        """:meth:`handle` for code without an event loop."""
        return asyncio.run(self.handle(request))

    def serve(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        path: str = "/statefun",
        max_body_bytes: int | None = MAX_BODY_BYTES,
    ) -> None:
        """Serve the functions over HTTP (aiohttp) until interrupted: the deployment one-liner.

        ``host`` is the address to bind. The default, loopback, is right on a laptop: no
        other machine can invoke the functions (with whatever state it sends), and a
        StateFun runtime on the same host or in the same pod reaches them at ``localhost``.
        In a container, or for a runtime on other machines or in other containers, pass
        ``host="0.0.0.0"`` (every interface): bound to loopback the server is unreachable
        from there, and StateFun retries until its call timeout, then fails the job.

        ``max_body_bytes`` limits a request's size (None: no limit); the default,
        :data:`MAX_BODY_BYTES` (256 MiB), takes a batch of 1,000 messages with large state.
        A request over it is refused (413) and logged: raise the limit for larger batches
        (``maxNumBatchRequests`` in module.yaml), messages or state.
        """
        from aiohttp import web

        web.run_app(web_app(self, path=path, max_body_bytes=max_body_bytes), host=host, port=port)


def check_typename(typename: str) -> None:
    """Raise ValueError unless ``typename`` is ``<namespace>/<name>``, as StateFun parses it:
    an address or egress the runtime cannot bind would fail the job at the first message.
    """
    if not is_typename(typename):
        raise ValueError(
            f"{typename!r} is not a StateFun typename: exactly one '/' between a namespace and a name"
        )


def _upgrades(implementation: Function, spec: FunctionSpec) -> dict[str, Callable[[Any], Any]]:
    """The implementation's upgrade method of each migrated state, by state name.

    Checked here, so that a missing one fails when the application is built, not at the
    first read of an old value in production.
    """
    upgrades = {}
    for field in spec.state.sfidl_states():
        if field.previous_type is None:
            continue
        name = upgrade_method(field.name)
        method = getattr(implementation, name, None)
        if not callable(method) or getattr(method, "__isabstractmethod__", False):
            raise TypeError(
                f"{type(implementation).__name__} ({spec.typename}) has no method {name}: "
                f"state {field.name!r} migrates from {field.previous_type.typename}, and "
                f"{name}(old) must turn such a value into a {field.statefun_type.typename}"
            )
        upgrades[field.name] = method
    return upgrades


def _typenames(manifest: Manifest) -> Iterator[str]:
    yield from manifest.functions
    for ingress in manifest.ingresses:
        yield ingress.typename
        yield ingress.target
    for egress in manifest.egresses:
        yield egress.typename


def _rpcs(spec: FunctionSpec) -> Iterator[Rpc[Any, Any]]:
    """Every rpc a function answers or calls."""
    for handler in spec.handlers:
        if isinstance(handler, RequestReply):
            yield handler.rpc
    for continuation in spec.continuations:
        yield from continuation.targets
