"""Ingresses, egresses and the file's deployment settings (endpoint, brokers, region)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sfidl import ast, model
from sfidl.check import rules
from sfidl.check.effects import resolve_target, send_ref
from sfidl.check.functions import FunctionSignature, message_type
from sfidl.check.names import check_identifier
from sfidl.check.report import Reporter, where
from sfidl.check.scope import Resolver
from sfidl.endpoint import endpoint_problem
from sfidl.model import HandlerKind, IoKind


@dataclass(frozen=True)
class Settings:
    endpoint: str | None = None
    kafka_brokers: str | None = None
    kinesis_region: str | None = None


def check_settings(report: Reporter, file: ast.File) -> Settings:
    seen: dict[str, ast.Setting] = {}
    for setting in file.settings:
        previous = seen.setdefault(setting.kind, setting)
        if previous is not setting:
            report.error(
                setting.span,
                f"a second `{setting.kind}` statement",
                hint=f"the first is at {where(previous.span)}",
                code=rules.DUPLICATE_SETTING,
            )
            continue
        value = setting.value
        if setting.kind == "endpoint":
            problem = endpoint_problem(value.value)
            if problem is not None:
                report.error(
                    value.span,
                    problem,
                    hint='e.g. "http://functions:8000/statefun"',
                    code=rules.BAD_ENDPOINT,
                )
        elif not value.value.strip():
            report.error(
                value.span, f"the `{setting.kind}` value is empty", code=rules.EMPTY_SETTING
            )
        elif setting.kind == "kafka brokers" and not _BROKERS.match(value.value):
            report.error(
                value.span,
                f"{_quoted(value.value)} is not a list of Kafka brokers",
                hint='write `host:port`, several separated by commas: "kafka-1:9092,kafka-2:9092"',
                code=rules.BAD_KAFKA_BROKERS,
            )
        elif setting.kind == "kinesis region" and not _REGION.match(value.value):
            report.error(
                value.span,
                f"{_quoted(value.value)} is not an AWS region",
                hint='e.g. "eu-west-1"',
                code=rules.BAD_AWS_REGION,
            )

    def given(kind: str) -> str | None:
        setting = seen.get(kind)
        return setting.value.value if setting is not None else None

    return Settings(given("endpoint"), given("kafka brokers"), given("kinesis region"))


# What Kafka accepts as a topic name, and Kinesis as a stream name.
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}\Z")
_STREAM = re.compile(r"[A-Za-z0-9._-]{1,128}\Z")
_BROKERS = re.compile(r"[^\s,:]+:\d+(,[^\s,:]+:\d+)*\Z")
_REGION = re.compile(r"[a-z0-9-]+\Z")


def _channel(report: Reporter, channel: ast.Channel) -> tuple[IoKind, str]:
    name = channel.name.value
    kafka = channel.kind == "kafka"
    what, limit = ("Kafka topic", 249) if kafka else ("Kinesis stream", 128)
    if not name.strip():
        report.error(
            channel.name.span, f"the {what.split()[1]} name is empty", code=rules.BAD_CHANNEL_NAME
        )
    elif not (_TOPIC if kafka else _STREAM).match(name) or name in (".", ".."):
        report.error(
            channel.name.span,
            f"{_quoted(name)} is not a valid {what} name",
            hint=f"use up to {limit} ASCII letters, digits, `.`, `_` and `-`, "
            "not just `.` or `..`",
            code=rules.BAD_CHANNEL_NAME,
        )
    return (IoKind.KAFKA if kafka else IoKind.KINESIS), name


def _quoted(value: str) -> str:
    """A user's string as a double-quoted literal, with anything unprintable escaped."""
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return '"' + "".join(out) + '"'


def build_egresses(
    resolver: Resolver, report: Reporter, file: ast.File
) -> tuple[tuple[model.Egress, ...], dict[str, ast.Egress]]:
    """The checked egresses, and the declared ones by name (for `emits`)."""
    by_name: dict[str, ast.Egress] = {}
    dead_letters: ast.Egress | None = None
    egresses: list[model.Egress] = []
    for egress in file.egresses:
        check_identifier(report, egress.name, "egress")
        previous = by_name.setdefault(egress.name.text, egress)
        if previous is not egress:
            report.error(
                egress.name.span,
                f"duplicate egress `{egress.name.text}`: already declared at {where(previous.name.span)}",
                code=rules.DUPLICATE_EGRESS,
            )
            continue
        kind, sink = _channel(report, egress.channel)
        message = None
        if egress.message is None:
            if dead_letters is not None:
                report.error(
                    egress.name.span,
                    "a second dead-letter egress",
                    hint=f"`{dead_letters.name.text}` at {where(dead_letters.name.span)} is the first",
                    code=rules.DUPLICATE_DEAD_LETTERS,
                )
                continue
            dead_letters = egress
        else:
            message = message_type(
                resolver, report, egress.message, "egress message", errors_allowed=True
            )
            if message is None:
                continue
        egresses.append(
            model.Egress(
                name=egress.name.text,
                typename=f"{file.package}/{egress.name.text}",
                kind=kind,
                sink=sink,
                span=egress.name.span,
                message=message,
                doc=egress.doc,
            )
        )
    return tuple(egresses), by_name


def build_ingresses(
    resolver: Resolver,
    report: Reporter,
    signatures: Mapping[str, FunctionSignature],
    file: ast.File,
) -> tuple[model.Ingress, ...]:
    seen: dict[str, ast.Ingress] = {}
    ingresses: list[model.Ingress] = []
    for ingress in file.ingresses:
        check_identifier(report, ingress.name, "ingress")
        previous = seen.setdefault(ingress.name.text, ingress)
        if previous is not ingress:
            report.error(
                ingress.name.span,
                f"duplicate ingress `{ingress.name.text}`: already declared at {where(previous.name.span)}",
                code=rules.DUPLICATE_INGRESS,
            )
            continue
        kind, source = _channel(report, ingress.channel)
        target = resolve_target(resolver, report, signatures, ingress.target)
        declared = resolver.type(ingress.message) if ingress.message is not None else None
        if target is None:
            continue
        function, handler = target
        if handler.kind is HandlerKind.RPC:
            report.error(
                ingress.target.handler.span,
                f"`{ingress.target.text}` is an rpc handler: an ingress has no caller to reply to",
                hint="route the ingress to a one-way (`on`) handler",
                code=rules.INGRESS_TO_RPC,
            )
            continue
        send = send_ref(function, handler)
        if send is None:
            continue
        if ingress.message is not None and declared is not None and declared.ref != send.request:
            report.error(
                ingress.message.span,
                f"the ingress carries `{ingress.message.text}` but `{ingress.target.text}` "
                f"receives `{send.request.local_name}`",
                code=rules.INGRESS_TYPE,
            )
            continue
        ingresses.append(
            model.Ingress(
                name=ingress.name.text,
                typename=f"{file.package}/{ingress.name.text}",
                kind=kind,
                source=source,
                target=send,
                span=ingress.name.span,
                doc=ingress.doc,
            )
        )
    return tuple(ingresses)
