"""load_program on a file using every feature of the language: the model it yields."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfidl.diagnostics import CompileError, Severity
from sfidl.frontend import LoadedProgram, analyze, load_program
from sfidl.model import (
    Effects,
    ExpireMode,
    HandlerKind,
    IoKind,
    Label,
    MessageOrigin,
    MessageType,
    Program,
    TypeKind,
    TypeRef,
)

COMMON = """\
/// Shared types.
namespace common;

message Money { int64 cents = 1; string currency = 2; }

function Audit {
  rpc check(Money) returns Money;
  on record(Money);
}
"""

SHOP = """\
/// The shop.
/// Second line.
namespace com.example.shop;

import "lib/common.sfidl";

endpoint "http://functions:8000/statefun";
kafka brokers "kafka:9092";
kinesis region "eu-west-1";

/// A line of a cart.
message Line {
  /// The item.
  string item_id = 1;
  int32 quantity = 2;
  repeated string tags = 3;
  map<string, int32> counts = 4;
  optional string note = 5;
  google.protobuf.Timestamp at = 6;
  oneof payment { string card = 7; common.Money voucher = 8; }
  reserved 9, 12 to 15, 100 to max;
  reserved "legacy";
  message Nested { bool ok = 1; }
  enum Kind { KIND_UNSPECIFIED = 0; KIND_GIFT = 1; }
  Nested nested = 10;
  Kind kind = 11;
}

enum Status {
  /// Not known.
  STATUS_UNKNOWN = 0;
  STATUS_ACTIVE = 1;
}

message AddToCart { string user_id = 1; }
message Reserve { int32 quantity = 1; }
message Reserved { int32 remaining = 1; }
message Restock { int32 quantity = 1; }
message Cart { repeated Line lines = 1; }
message ExpireCart {}
message Receipt { Cart cart = 1; }
message Score {}

/// Not enough stock.
error OutOfStock { string item_id = 1; }
error Closed {}

/// One instance per item.
function Inventory {
  state stock: int32 = -3;
  /// Sets stock aside.
  rpc reserve(Reserve) returns Reserved raises OutOfStock, Closed;
  on restock(Restock);
}

function UserCart {
  /// The cart.
  state cart: Cart expire after write 1h;
  state visits: int64 = 0;
  state seen: string = "never" expire after call 30d;
  state ratio: double = 1;
  state open: bool = true;

  on add(AddToCart)
      calls Inventory.reserve -> reserved carrying AddToCart timeout 5s
      sends Inventory.restock, common.Audit.record
      emits receipts;
  on score(Score) calls (Inventory.reserve, common.Audit.check) -> scored timeout 500ms;
  rpc peek(Score) returns Cart calls Inventory.reserve -> reserved carrying AddToCart timeout 5s;
  /// Clears an idle cart.
  timer expire(ExpireCart) sends Inventory.restock emits receipts;
}

ingress add_to_cart: kafka topic "add-to-cart" of AddToCart -> UserCart.add;
/// Restocks.
ingress restocks: kinesis stream "restocks" -> Inventory.restock;
egress receipts: kafka topic "receipts" of Receipt;
egress dead: kinesis stream "dead-letters" for dead letters;
"""


@pytest.fixture()
def loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoadedProgram:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "common.sfidl").write_text(COMMON)
    (tmp_path / "shop.sfidl").write_text(SHOP)
    monkeypatch.chdir(tmp_path)
    return load_program(Path("shop.sfidl"))


@pytest.fixture()
def program(loaded: LoadedProgram) -> Program:
    return loaded.program


def message(messages: tuple[MessageType, ...], name: str) -> MessageType:
    return next(m for m in messages if m.name == name)


def test_files_in_dependency_order_with_display_paths(loaded: LoadedProgram) -> None:
    program = loaded.program
    assert [f.path for f in program.files] == ["lib/common.sfidl", "shop.sfidl"]
    assert [f.proto_file for f in program.files] == ["common.proto", "shop.proto"]
    assert program.root.package == "com.example.shop"
    assert program.root.doc == "The shop.\nSecond line."
    assert program.files[0].doc == "Shared types."
    assert set(loaded.sources) == {"lib/common.sfidl", "shop.sfidl"}
    assert loaded.warnings == ()


def test_proto_imports_are_the_files_whose_types_are_used(program: Program) -> None:
    assert program.root.imports == ("common.proto", "google/protobuf/timestamp.proto")
    assert program.files[0].imports == ()


def test_settings(program: Program) -> None:
    assert program.endpoint == "http://functions:8000/statefun"
    assert program.kafka_brokers == "kafka:9092"
    assert program.kinesis_region == "eu-west-1"


def test_message_fields_labels_and_types(program: Program) -> None:
    line = message(program.root.messages, "Line")
    assert line.full_name == "com.example.shop.Line"
    assert line.doc == "A line of a cart."
    fields = {f.name: f for f in line.fields}
    assert [f.name for f in line.fields] == [
        "item_id",
        "quantity",
        "tags",
        "counts",
        "note",
        "at",
        "card",
        "voucher",
        "nested",
        "kind",
    ]
    assert fields["item_id"].doc == "The item."
    assert fields["tags"].label is Label.REPEATED
    assert fields["note"].label is Label.OPTIONAL
    counts = fields["counts"]
    assert counts.label is Label.MAP
    assert counts.map_key == TypeRef(TypeKind.SCALAR, "string")
    assert counts.type == TypeRef(TypeKind.SCALAR, "int32")
    assert fields["at"].type == TypeRef(
        TypeKind.MESSAGE,
        "google.protobuf.Timestamp",
        "google.protobuf",
        "google/protobuf/timestamp.proto",
    )
    assert fields["voucher"].type == TypeRef(
        TypeKind.MESSAGE, "common.Money", "common", "common.proto"
    )
    assert fields["voucher"].oneof == "payment" and fields["card"].oneof == "payment"
    assert fields["item_id"].oneof is None
    assert line.oneofs == ("payment",)
    assert fields["nested"].type.name == "com.example.shop.Line.Nested"
    assert fields["nested"].type.local_name == "Line.Nested"
    assert fields["kind"].type.kind is TypeKind.ENUM
    assert line.reserved.ranges == ((9, 9), (12, 15), (100, 536_870_911))
    assert line.reserved.names == ("legacy",)
    assert [m.full_name for m in line.messages] == ["com.example.shop.Line.Nested"]
    assert [v.name for v in line.enums[0].values] == ["KIND_UNSPECIFIED", "KIND_GIFT"]


def test_enums_and_errors(program: Program) -> None:
    (status,) = program.root.enums
    assert status.full_name == "com.example.shop.Status"
    assert status.values[0].doc == "Not known."
    out_of_stock = message(program.root.messages, "OutOfStock")
    assert out_of_stock.origin is MessageOrigin.ERROR
    assert out_of_stock.doc == "Not enough stock."


def test_envelopes_follow_the_user_messages(program: Program) -> None:
    origins = [m.origin for m in program.root.messages]
    first_envelope = origins.index(MessageOrigin.ENVELOPE)
    assert all(o is MessageOrigin.ENVELOPE for o in origins[first_envelope:])
    names = [m.name for m in program.root.messages[first_envelope:]]
    assert names == [
        "InventoryReserveCall",
        "InventoryReserveReply",
        "UserCartPeekCall",
        "UserCartPeekReply",
    ]
    call = message(program.root.messages, "InventoryReserveCall")
    assert call.doc == "Request envelope of Inventory.reserve, generated by sfidl."
    assert [(f.name, f.number, f.type.name) for f in call.fields] == [
        ("correlation_id", 1, "string"),
        ("request", 2, "com.example.shop.Reserve"),
        ("deadline_millis", 3, "int64"),
    ]
    reply = message(program.root.messages, "InventoryReserveReply")
    assert reply.oneofs == ("outcome",)
    assert [(f.name, f.number, f.type.name, f.oneof) for f in reply.fields] == [
        ("correlation_id", 1, "string", None),
        ("reply", 2, "com.example.shop.Reserved", "outcome"),
        ("out_of_stock", 3, "com.example.shop.OutOfStock", "outcome"),
        ("closed", 4, "com.example.shop.Closed", "outcome"),
    ]
    # The imported file's rpc gets its envelopes in its own file.
    assert [m.name for m in program.files[0].messages] == [
        "Money",
        "AuditCheckCall",
        "AuditCheckReply",
    ]


def test_functions_of_the_root_only(program: Program) -> None:
    assert [f.name for f in program.functions] == ["Inventory", "UserCart"]
    inventory = program.functions[0]
    assert inventory.typename == "com.example.shop/inventory"
    assert inventory.doc == "One instance per item."
    reserve = inventory.handlers[0]
    assert reserve.kind is HandlerKind.RPC
    assert reserve.doc == "Sets stock aside."
    assert reserve.reply is not None and reserve.reply.name == "com.example.shop.Reserved"
    assert [e.name for e in reserve.errors] == [
        "com.example.shop.OutOfStock",
        "com.example.shop.Closed",
    ]
    assert reserve.call_envelope is not None
    assert reserve.call_envelope.name == "com.example.shop.InventoryReserveCall"
    assert reserve.reply_envelope is not None
    assert reserve.reply_envelope.proto_file == "shop.proto"
    assert inventory.handlers[1].kind is HandlerKind.ONEWAY
    assert inventory.handlers[1].reply is None


def test_states(program: Program) -> None:
    states = {s.name: s for s in program.functions[1].states}
    assert states["cart"].doc == "The cart."
    assert states["cart"].type.kind is TypeKind.MESSAGE
    assert states["cart"].default is None
    expiry = states["cart"].expiry
    assert expiry is not None and expiry.mode is ExpireMode.AFTER_WRITE
    assert expiry.millis == 3_600_000
    seen = states["seen"]
    assert seen.default == "never"
    assert seen.expiry is not None and seen.expiry.mode is ExpireMode.AFTER_CALL
    assert seen.expiry.millis == 30 * 86_400_000
    assert states["visits"].default == 0 and states["visits"].typename == "io.statefun.types/long"
    assert states["ratio"].default == 1.0 and isinstance(states["ratio"].default, float)
    assert states["open"].default is True
    assert program.functions[0].states[0].default == -3


def test_effects(program: Program) -> None:
    cart = program.functions[1]
    add, score, peek = cart.handlers
    (call,) = add.calls
    assert call.continuation == "reserved"
    assert call.carries is not None and call.carries.name == "com.example.shop.AddToCart"
    assert call.timeout_millis == 5000
    assert not call.is_join
    (target,) = call.targets
    assert (target.function, target.handler) == ("Inventory", "reserve")
    assert target.function_typename == "com.example.shop/inventory"
    assert target.call_envelope.name == "com.example.shop.InventoryReserveCall"
    assert [e.name for e in target.errors] == [
        "com.example.shop.OutOfStock",
        "com.example.shop.Closed",
    ]
    assert [(s.function_typename, s.handler) for s in add.sends] == [
        ("com.example.shop/inventory", "restock"),
        ("common/audit", "record"),
    ]
    assert add.emits == ("receipts",)
    (join,) = score.calls
    assert join.is_join and join.timeout_millis == 500
    assert [t.function_typename for t in join.targets] == [
        "com.example.shop/inventory",
        "common/audit",
    ]
    assert join.targets[1].reply_envelope.proto_file == "common.proto"
    assert peek.kind is HandlerKind.RPC and peek.calls[0].continuation == "reserved"
    # The same continuation declared twice is one call of the function.
    assert [c.continuation for c in cart.calls] == ["reserved", "scored"]
    (timer,) = cart.timers
    assert timer.doc == "Clears an idle cart."
    assert timer.message.name == "com.example.shop.ExpireCart"
    assert [s.handler for s in timer.sends] == ["restock"] and timer.emits == ("receipts",)


CHAIN = """
namespace chain;
message Job {}
message Done {}
message Step {}
message Stepped {}
message Give {}
exclusive function B {
  rpc work(Job) returns Done calls C.step -> stepped timeout 2s completes work;
  on later(Give) calls C.step -> stepped timeout 2s emits out;
  timer give_up(Give) completes work sets give_up;
  rpc plain(Job) returns Done;
}
function C { rpc step(Step) returns Stepped; }
ingress gives: kafka topic "g" of Give -> B.later;
egress out: kafka topic "o" of Done;
"""


def test_completes_sets_and_exclusive(tmp_path: Path) -> None:
    (tmp_path / "chain.sfidl").write_text(CHAIN)
    b, c = load_program(tmp_path / "chain.sfidl").program.functions
    assert b.exclusive and not c.exclusive
    work, later, plain = b.handlers
    (give_up,) = b.timers
    assert work.completes == ("work",) and give_up.completes == ("work",)
    assert give_up.sets == ("give_up",) and work.sets == ()
    # An rpc may answer later exactly when some member completes it.
    assert b.defers("work") and not b.defers("plain")
    # A continuation may do what every member whose calls name it declared.
    stepped = b.continuation_effects("stepped")
    assert [call.continuation for call in stepped.calls] == ["stepped"]
    assert stepped.completes == ("work",) and stepped.emits == ("out",)
    assert b.continuation_effects("nothing") == Effects()


def test_ingresses_and_egresses(program: Program) -> None:
    add, restocks = program.ingresses
    assert add.typename == "com.example.shop/add_to_cart"
    assert add.kind is IoKind.KAFKA and add.source == "add-to-cart"
    assert (add.target.function, add.target.handler) == ("UserCart", "add")
    assert restocks.kind is IoKind.KINESIS and restocks.doc == "Restocks."
    receipts, dead = program.egresses
    assert receipts.typename == "com.example.shop/receipts"
    assert receipts.message is not None and receipts.message.name == "com.example.shop.Receipt"
    assert dead.is_dead_letter and program.dead_letters is dead
    assert dead.kind is IoKind.KINESIS and dead.sink == "dead-letters"


def test_every_typename_has_exactly_one_slash(program: Program) -> None:
    typenames = [f.typename for f in program.functions]
    typenames += [i.typename for i in program.ingresses] + [e.typename for e in program.egresses]
    assert all(t.count("/") == 1 for t in typenames)


def test_root_display_path_is_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    root = tmp_path / "sub" / "x.sfidl"
    root.write_text("namespace x;\nmessage A { B b = 1; }\n")
    monkeypatch.chdir(tmp_path / "sub")
    for given in (Path("x.sfidl"), Path("../sub/x.sfidl"), root):
        with pytest.raises(CompileError) as error:
            load_program(given)
        assert [d.span.file for d in error.value.diagnostics] == [str(given)]
        assert f"{given}:2:13: error[unknown-type]: unknown type `B`" in error.value.render()


def test_import_outside_the_working_directory_is_shown_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "lib" / "common.sfidl").write_text("namespace common;\nmessage M { X x = 1; }\n")
    (tmp_path / "app" / "main.sfidl").write_text(
        'namespace app;\nimport "../lib/common.sfidl";\nmessage A {}\n'
    )
    monkeypatch.chdir(tmp_path / "app")
    with pytest.raises(CompileError) as error:
        load_program(Path("main.sfidl"))
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.span.file == str((tmp_path / "lib" / "common.sfidl").resolve())
    assert "unknown type `X`" in error.value.render()


def test_missing_root_file_is_a_diagnostic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CompileError) as error:
        load_program(Path("nope.sfidl"))
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.severity is Severity.ERROR
    assert (
        error.value.render()
        == "nope.sfidl:1:1: error[unreadable-file]: cannot read `nope.sfidl`: no such file\n1 error"
    )


def test_analyze_takes_unsaved_texts_and_keeps_warnings_beside_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lib.sfidl").write_text("namespace lib;\nmessage Old {}\n")
    root = tmp_path / "main.sfidl"
    root.write_text("namespace main;\n")  # on disk: nothing of what is checked below
    texts = {
        (tmp_path / "lib.sfidl").resolve(): "namespace lib;\nmessage New {}\n",
        root.resolve(): 'namespace main;\nimport "lib.sfidl";\n'
        "function F { on a(lib.New); on b(Missing); }\n",
    }
    analysis = analyze(root, texts)
    assert analysis.program is None
    assert [(d.severity, d.span.line, d.message) for d in analysis.diagnostics] == [
        (Severity.WARNING, 3, "the program has functions but no ingress"),
        (Severity.ERROR, 3, "unknown type `Missing`"),
    ]
    assert [u.file.path for u in analysis.units] == ["lib.sfidl", str(root)]
    assert analysis.files == {"lib.sfidl": (tmp_path / "lib.sfidl").resolve(), str(root): root}
    assert load_program(root).program.functions == ()  # the disk is left as it was
