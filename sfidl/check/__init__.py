"""AST -> checked model: name resolution and every semantic rule of the language.

:func:`check` takes the parsed files of one program in dependency order (the root last)
and returns the :class:`~sfidl.model.Program` or, with any error, only the diagnostics.
Every check runs and reports; nothing stops at the first error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sfidl import ast, model
from sfidl.check import rules
from sfidl.check.call_graph import check_call_graph
from sfidl.check.effects import FunctionChecker
from sfidl.check.envelopes import declare_envelopes
from sfidl.check.functions import FunctionSignature, build_signatures, declare_functions
from sfidl.check.io import build_egresses, build_ingresses, check_settings
from sfidl.check.names import check_identifier
from sfidl.check.file_names import check_output_file_names
from sfidl.check.proto_names import check_full_names
from sfidl.check.python_names import check_python_names
from sfidl.check.report import Reporter
from sfidl.check.scope import Resolver, SymbolTable
from sfidl.check.types import build_enum, build_message, declare_types
from sfidl.diagnostics import Diagnostic, Span


@dataclass(frozen=True)
class Unit:
    """One parsed file of the program."""

    file: ast.File
    proto_file: str  # ``shop.proto``
    imports: tuple[str, ...] = ()  # display paths of the files it imports directly
    # False when one of its imports could not be loaded: names it cannot resolve are
    # then not reported (they are most likely declared in the missing file).
    complete: bool = True


@dataclass(frozen=True)
class CheckResult:
    program: model.Program | None  # None when there is an error
    diagnostics: tuple[Diagnostic, ...]  # errors and warnings


def check(units: Sequence[Unit]) -> CheckResult:
    """Check the files of one program, given in dependency order with the root last."""
    report = Reporter()
    table = SymbolTable()
    for unit in units:
        for part, span in _namespace_parts(unit.file):
            check_identifier(report, ast.Name(part, span), "namespace", python=False)
        declare_types(table, report, unit.file, unit.proto_file)
    for unit in units:
        declare_envelopes(table, report, unit.file, unit.proto_file)
    for unit in units:
        declare_functions(table, report, unit.file)

    resolvers = {
        unit.file.path: Resolver(
            table, report, unit.file.path, unit.file.package, unit.imports, unit.complete
        )
        for unit in units
    }
    signatures: dict[str, FunctionSignature] = {}
    per_file: dict[str, tuple[list[FunctionSignature], list[model.MessageType]]] = {}
    for unit in units:
        own, envelopes = build_signatures(resolvers[unit.file.path], report, table, unit.file)
        signatures.update((s.symbol.full_name, s) for s in own)
        per_file[unit.file.path] = own, envelopes

    files: list[model.SourceFile] = []
    root = units[-1]
    program: model.Program | None = None
    # Every file's functions: a call graph crosses files (a root function calls an import's).
    everywhere: list[model.Function] = []
    for unit in units:
        resolver = resolvers[unit.file.path]
        own, envelopes = per_file[unit.file.path]
        messages = [
            build_message(resolver, report, m, unit.file.package, unit.proto_file)
            for m in unit.file.messages
        ]
        messages.extend(envelopes)
        enums = tuple(build_enum(report, e, unit.file.package) for e in unit.file.enums)
        files.append(
            model.SourceFile(
                path=unit.file.path,
                package=unit.file.package,
                proto_file=unit.proto_file,
                imports=_proto_imports(unit.proto_file, messages),
                messages=tuple(messages),
                enums=enums,
                doc=unit.file.doc,
            )
        )
        egresses, egress_names = build_egresses(resolver, report, unit.file)
        checker = FunctionChecker(resolver, report, signatures, egress_names)
        functions = tuple(checker.function(s) for s in own)
        everywhere.extend(functions)
        ingresses = build_ingresses(resolver, report, signatures, unit.file)
        settings = check_settings(report, unit.file)
        if unit is root:
            program = model.Program(
                files=tuple(files),
                functions=functions,
                ingresses=ingresses,
                egresses=egresses,
                endpoint=settings.endpoint,
                kafka_brokers=settings.kafka_brokers,
                kinesis_region=settings.kinesis_region,
            )
    check_call_graph(report, everywhere)
    if root.file.functions and not root.file.ingresses:
        report.warning(
            root.file.functions[0].name.span,
            "the program has functions but no ingress",
            hint="StateFun does not start a module without an ingress",
            code=rules.NO_INGRESS,
        )
    if program is not None and not report.has_errors:
        # Rules over names derived from the whole program: the stubs' and protoc's.
        check_python_names(report, program)
        check_full_names(report, program)
        check_output_file_names(report, program)
    return CheckResult(None if report.has_errors else program, tuple(report.diagnostics))


def _namespace_parts(file: ast.File) -> Iterator[tuple[str, Span]]:
    span = file.namespace.span
    column = span.column
    for part in file.namespace.parts:
        yield part, Span(span.file, span.line, column, span.line, column + len(part))
        column += len(part) + 1


def _proto_imports(own: str, messages: Sequence[model.MessageType]) -> tuple[str, ...]:
    """The .proto files whose types the messages of one file use."""
    needed: set[str] = set()

    def visit(message: model.MessageType) -> None:
        for field in message.fields:
            for ref in (field.type, field.map_key):
                if ref is not None and ref.proto_file:
                    needed.add(ref.proto_file)
        for nested in message.messages:
            visit(nested)

    for message in messages:
        visit(message)
    needed.discard(own)
    return tuple(sorted(needed))
