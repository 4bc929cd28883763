"""The checker on parsed files directly: name rules, resolution, partial programs."""

from __future__ import annotations

import pytest

from sfidl import ast
from sfidl.check import Unit, check
from sfidl.check.envelopes import envelope_names
from sfidl.naming import pascal_case, snake_case
from sfidl.diagnostics import Severity
from sfidl.model import Program
from sfidl.parse import parse


def unit(path: str, text: str, imports: tuple[str, ...] = (), complete: bool = True) -> Unit:
    file = parse(text, path).file
    assert isinstance(file, ast.File)
    return Unit(file, path.removesuffix(".sfidl") + ".proto", imports, complete)


def messages_of(units: list[Unit]) -> list[str]:
    result = check(units)
    return [d.message for d in result.diagnostics if d.severity is Severity.ERROR]


def program_of(units: list[Unit]) -> Program:
    result = check(units)
    assert result.program is not None, [d.message for d in result.diagnostics]
    return result.program


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("UserCart", "user_cart"),
        ("Inventory", "inventory"),
        ("HTTPServer", "http_server"),
        ("OutOfStock", "out_of_stock"),
        ("V2Thing", "v2_thing"),
        ("already_snake", "already_snake"),
    ],
)
def test_snake_case(name: str, snake: str) -> None:
    assert snake_case(name) == snake


def test_pascal_case_and_envelope_names() -> None:
    assert pascal_case("add_item") == "AddItem"
    assert pascal_case("reserve") == "Reserve"
    assert envelope_names("Inventory", "reserve") == (
        "InventoryReserveCall",
        "InventoryReserveReply",
    )
    assert envelope_names("UserCart", "add_item") == ("UserCartAddItemCall", "UserCartAddItemReply")


def test_nested_names_resolve_innermost_first() -> None:
    program = program_of(
        [
            unit(
                "a.sfidl",
                "namespace a;\nmessage Inner {}\n"
                "message Outer { message Inner { bool x = 1; } Inner inner = 1; }\n"
                "message Other { Inner plain = 1; Outer.Inner nested = 2; a.Inner full = 3; }\n",
            )
        ]
    )
    outer, other = program.root.messages[1], program.root.messages[2]
    assert outer.fields[0].type.name == "a.Outer.Inner"
    assert [f.type.name for f in other.fields] == ["a.Inner", "a.Outer.Inner", "a.Inner"]


def test_a_sub_package_sees_its_parent_package() -> None:
    program = program_of(
        [
            unit("base.sfidl", "namespace com.shop;\nmessage Money {}\n"),
            unit(
                "sub.sfidl",
                "namespace com.shop.orders;\nmessage Order { Money m = 1; }\n",
                ("base.sfidl",),
            ),
        ]
    )
    assert program.root.messages[0].fields[0].type.name == "com.shop.Money"
    assert program.root.imports == ("base.proto",)


def test_only_direct_imports_are_visible() -> None:
    errors = messages_of(
        [
            unit("c.sfidl", "namespace c;\nmessage C {}\n"),
            unit("b.sfidl", "namespace b;\nmessage B { c.C c = 1; }\n", ("c.sfidl",)),
            unit("a.sfidl", "namespace a;\nmessage A { c.C c = 1; b.B b = 2; }\n", ("b.sfidl",)),
        ]
    )
    assert errors == ["type `c.C` is declared in `c.sfidl`, which this file does not import"]


def test_an_incomplete_file_does_not_report_unknown_names() -> None:
    text = "namespace a;\nmessage A { Missing m = 1; string s = 1; }\n"
    assert messages_of([unit("a.sfidl", text, complete=False)]) == [
        "field number 1 is already used by `m`"
    ]
    assert "unknown type `Missing`" in messages_of([unit("a.sfidl", text)])


def test_warnings_do_not_prevent_the_program() -> None:
    result = check([unit("a.sfidl", "namespace a;\nmessage M {}\nfunction F { on x(M); }\n")])
    assert result.program is not None
    (warning,) = result.diagnostics
    assert warning.severity is Severity.WARNING
    assert warning.message == "the program has functions but no ingress"


def test_functions_of_imported_files_are_call_targets_not_program_functions() -> None:
    program = program_of(
        [
            unit(
                "lib.sfidl",
                "namespace lib;\nmessage M {}\nfunction Audit { rpc check(M) returns M; }\n",
            ),
            unit(
                "app.sfidl",
                "namespace app;\nfunction App { on go(lib.M) calls lib.Audit.check -> checked; }\n"
                'ingress go: kafka topic "go" -> App.go;\n',
                ("lib.sfidl",),
            ),
        ]
    )
    assert [f.name for f in program.functions] == ["App"]
    (call,) = program.functions[0].calls
    assert call.targets[0].function_typename == "lib/audit"
    assert call.targets[0].call_envelope.name == "lib.AuditCheckCall"
    assert call.targets[0].call_envelope.proto_file == "lib.proto"


def test_every_error_of_every_file_in_one_run() -> None:
    errors = messages_of(
        [
            unit("lib.sfidl", "namespace lib;\nmessage M { int32 a = 0; }\n"),
            unit(
                "app.sfidl",
                "namespace app;\nmessage N { lib.M m = 1; lib.M n = 1; }\nenum E { X = 1; }\n",
                ("lib.sfidl",),
            ),
        ]
    )
    assert errors == [
        "field number 0 is out of range",
        "field number 1 is already used by `m`",
        "the first value of a proto3 enum must be 0, not 1",
    ]
