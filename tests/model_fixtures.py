"""Checked models built by hand, for testing generators without the front end.

:data:`SHOP` is the program the front end would build from ``fixture_shop.sfidl`` (the
shop of docs/language.md and DESIGN.md) importing ``fixture_common.sfidl``: every
scalar, top-level and nested enums and messages, repeated, map, optional, oneof, reserved
numbers and names, well-known types, an error, the envelopes of an rpc, docs (one of them
adversarial), functions with states, handlers, calls, sends, emits and timers, an
ingress, an egress and a dead-letter egress.

File and package names are the fixture's own: protobuf's default descriptor pool is
process-wide, and importing a ``shop_pb2`` built from a different ``shop.proto`` (an
example's) in the same pytest run would fail with "duplicate file name".
"""

from __future__ import annotations

from sfidl.diagnostics import Span
from sfidl.model import (
    SCALARS,
    Call,
    Egress,
    EnumType,
    EnumValue,
    ExpireMode,
    Expiry,
    Field,
    Function,
    Handler,
    HandlerKind,
    Ingress,
    IoKind,
    Label,
    MessageOrigin,
    MessageType,
    Program,
    Reserved,
    RpcRef,
    SendRef,
    SourceFile,
    State,
    Timer,
    TypeKind,
    TypeRef,
)

COMMON_PACKAGE = "com.example.fixture.common"
SHOP_PACKAGE = "com.example.fixture.shop"
TIMESTAMP_PROTO = "google/protobuf/timestamp.proto"
DURATION_PROTO = "google/protobuf/duration.proto"
WRAPPERS_PROTO = "google/protobuf/wrappers.proto"
STRUCT_PROTO = "google/protobuf/struct.proto"

# A doc that tries to break out of its comment in every way a .proto allows.
ADVERSARIAL_DOC = (
    'Ends a block comment */ and opens one /* "quoted" \\ \n'
    "second line\r\n"
    "third line\rfourth\x00with NUL\x1b[31m escape\u2028fifth\n"
    "\n"
    "unicode: café ✓ \U0001f600\n"
    "message Injected { int32 x = 1; }   "
)


def at(line: int, file: str = "fixture_shop.sfidl") -> Span:
    """A span on ``line`` of ``file``."""
    return Span.point(file, line, 1)


def scalar(name: str) -> TypeRef:
    return TypeRef(TypeKind.SCALAR, name)


def message_ref(
    full_name: str, package: str = SHOP_PACKAGE, proto_file: str = "fixture_shop.proto"
) -> TypeRef:
    return TypeRef(TypeKind.MESSAGE, full_name, package, proto_file)


def enum_ref(
    full_name: str, package: str = SHOP_PACKAGE, proto_file: str = "fixture_shop.proto"
) -> TypeRef:
    return TypeRef(TypeKind.ENUM, full_name, package, proto_file)


def shop(name: str) -> TypeRef:
    """A message of fixture_shop.proto by its local name."""
    return message_ref(f"{SHOP_PACKAGE}.{name}")


def wkt(name: str, proto_file: str) -> TypeRef:
    return message_ref(f"google.protobuf.{name}", "google.protobuf", proto_file)


def field(
    name: str,
    number: int,
    type_: TypeRef,
    label: Label = Label.SINGULAR,
    *,
    map_key: TypeRef | None = None,
    oneof: str | None = None,
    doc: str = "",
) -> Field:
    return Field(
        name, number, type_, label, at(number + 100), map_key=map_key, oneof=oneof, doc=doc
    )


def simple_message(
    name: str,
    *fields: Field,
    oneofs: tuple[str, ...] = (),
    origin: MessageOrigin = MessageOrigin.MESSAGE,
    doc: str = "",
) -> MessageType:
    """A top-level message of fixture_shop.proto without nested types or reserved numbers."""
    return MessageType(
        name, f"{SHOP_PACKAGE}.{name}", fields, at(1), oneofs=oneofs, origin=origin, doc=doc
    )


# --- fixture_common.sfidl

MONEY = message_ref(f"{COMMON_PACKAGE}.Money", COMMON_PACKAGE, "fixture_common.proto")
REGION = enum_ref(f"{COMMON_PACKAGE}.Region", COMMON_PACKAGE, "fixture_common.proto")

COMMON_FILE = SourceFile(
    path="fixture_common.sfidl",
    package=COMMON_PACKAGE,
    proto_file="fixture_common.proto",
    imports=(),
    messages=(
        MessageType(
            "Money",
            MONEY.name,
            (
                Field(
                    "currency",
                    1,
                    scalar("string"),
                    Label.SINGULAR,
                    at(4, "fixture_common.sfidl"),
                    doc="ISO 4217 code.",
                ),
                Field("units", 2, scalar("int64"), Label.SINGULAR, at(5, "fixture_common.sfidl")),
                Field("nanos", 3, scalar("int32"), Label.SINGULAR, at(6, "fixture_common.sfidl")),
            ),
            at(3, "fixture_common.sfidl"),
            doc="An amount of money.",
        ),
    ),
    enums=(
        EnumType(
            "Region",
            REGION.name,
            (
                EnumValue("REGION_UNSPECIFIED", 0, at(10, "fixture_common.sfidl")),
                EnumValue("REGION_EU", 1, at(11, "fixture_common.sfidl"), doc="Europe."),
                EnumValue("REGION_US", 2, at(12, "fixture_common.sfidl")),
            ),
            at(9, "fixture_common.sfidl"),
        ),
    ),
    doc="Types shared by several namespaces.",
)

# --- fixture_shop.sfidl: types

SCALARS_MESSAGE = simple_message(
    "Scalars",
    *(field(f"{name}_value", n, scalar(name)) for n, name in enumerate(SCALARS, start=1)),
    doc="One field of every proto3 scalar.",
)

LINE_KIND = EnumType(
    "Kind",
    f"{SHOP_PACKAGE}.Line.Kind",
    (EnumValue("KIND_UNSPECIFIED", 0, at(30)), EnumValue("KIND_GIFT", 1, at(31), doc="Wrapped.")),
    at(29),
)
LINE_NESTED = MessageType(
    "Nested",
    f"{SHOP_PACKAGE}.Line.Nested",
    (field("ok", 1, scalar("bool")),),
    at(28),
    messages=(
        MessageType(
            "Deeper",
            f"{SHOP_PACKAGE}.Line.Nested.Deeper",
            (field("kind", 1, enum_ref(LINE_KIND.full_name)),),
            at(27),
            doc="Two levels down.",
        ),
    ),
)
LINE = MessageType(
    "Line",
    f"{SHOP_PACKAGE}.Line",
    (
        field("item_id", 1, scalar("string")),
        field("quantity", 2, scalar("int32")),
        field("tags", 3, scalar("string"), Label.REPEATED),
        field("counts", 4, scalar("int32"), Label.MAP, map_key=scalar("string")),
        field("note", 5, scalar("string"), Label.OPTIONAL, doc="Shown on the receipt."),
        field("at", 6, wkt("Timestamp", TIMESTAMP_PROTO)),
        field("card", 7, scalar("string"), oneof="payment"),
        field("voucher", 8, shop("Voucher"), oneof="payment", doc="A voucher pays it all."),
        field("nested", 10, message_ref(LINE_NESTED.full_name)),
        field("kind", 11, enum_ref(LINE_KIND.full_name)),
        field("price", 16, MONEY),
        field("prices", 17, MONEY, Label.MAP, map_key=scalar("string")),
        field("regions", 18, REGION, Label.REPEATED),
        field("by_number", 19, enum_ref(LINE_KIND.full_name), Label.MAP, map_key=scalar("int64")),
        field("flags", 20, scalar("bool"), Label.MAP, map_key=scalar("bool")),
        field("deeper", 21, message_ref(f"{SHOP_PACKAGE}.Line.Nested.Deeper"), Label.REPEATED),
        field("limit", 22, scalar("int64"), Label.OPTIONAL),
        field("status", 23, enum_ref(f"{SHOP_PACKAGE}.Status"), Label.OPTIONAL),
        field("gift_wrap", 24, wkt("BoolValue", WRAPPERS_PROTO)),
        field("hold_for", 25, wkt("Duration", DURATION_PROTO)),
        field("extra", 26, wkt("Struct", STRUCT_PROTO)),
    ),
    at(20),
    oneofs=("payment",),
    messages=(LINE_NESTED,),
    enums=(LINE_KIND,),
    reserved=Reserved(ranges=((9, 9), (12, 15), (100, 536870911)), names=("legacy", "old_note")),
    doc="A line of a cart.",
)

STATUS = EnumType(
    "Status",
    f"{SHOP_PACKAGE}.Status",
    (
        EnumValue("STATUS_UNKNOWN", 0, at(50)),
        EnumValue("STATUS_ACTIVE", 1, at(51), doc="Open for business."),
    ),
    at(49),
    doc="The state of a shop.",
)

VOUCHER = simple_message("Voucher", field("code", 1, scalar("string")), doc=ADVERSARIAL_DOC)
ADD_TO_CART = simple_message(
    "AddToCart",
    field("user_id", 1, scalar("string")),
    field("item_id", 2, scalar("string")),
    field("quantity", 3, scalar("int32")),
    doc='Sent by the web front end (Kafka topic "add-to-cart").',
)
RESERVE = simple_message(
    "Reserve", field("item_id", 1, scalar("string")), field("quantity", 2, scalar("int32"))
)
RESERVED = simple_message("Reserved", field("remaining", 1, scalar("int32")))
RESTOCK = simple_message(
    "Restock", field("item_id", 1, scalar("string")), field("quantity", 2, scalar("int32"))
)
CART = simple_message(
    "Cart", field("items", 1, scalar("int32"), Label.MAP, map_key=scalar("string"))
)
CHECKOUT = simple_message("Checkout", field("user_id", 1, scalar("string")))
RECEIPT = simple_message(
    "Receipt",
    field("user_id", 1, scalar("string")),
    field("lines", 2, message_ref(LINE.full_name), Label.REPEATED),
    field("total", 3, MONEY),
)
EXPIRE_CART = simple_message("ExpireCart")
OUT_OF_STOCK = simple_message(
    "OutOfStock",
    field("item_id", 1, scalar("string")),
    field("available", 2, scalar("int32")),
    origin=MessageOrigin.ERROR,
    doc="Not enough stock for the reservation.",
)
INVENTORY_RESERVE_CALL = simple_message(
    "InventoryReserveCall",
    field("correlation_id", 1, scalar("string")),
    field("request", 2, shop("Reserve")),
    origin=MessageOrigin.ENVELOPE,
    doc="Carries a call of Inventory.reserve.",
)
INVENTORY_RESERVE_REPLY = simple_message(
    "InventoryReserveReply",
    field("correlation_id", 1, scalar("string")),
    field("reply", 2, shop("Reserved"), oneof="outcome"),
    field("out_of_stock", 3, shop("OutOfStock"), oneof="outcome"),
    oneofs=("outcome",),
    origin=MessageOrigin.ENVELOPE,
    doc="Carries the outcome of Inventory.reserve back to its caller.",
)

SHOP_FILE = SourceFile(
    path="fixture_shop.sfidl",
    package=SHOP_PACKAGE,
    proto_file="fixture_shop.proto",
    imports=(TIMESTAMP_PROTO, "fixture_common.proto", WRAPPERS_PROTO, DURATION_PROTO, STRUCT_PROTO),
    messages=(
        SCALARS_MESSAGE,
        LINE,
        VOUCHER,
        ADD_TO_CART,
        RESERVE,
        RESERVED,
        RESTOCK,
        CART,
        CHECKOUT,
        RECEIPT,
        EXPIRE_CART,
        OUT_OF_STOCK,
        INVENTORY_RESERVE_CALL,
        INVENTORY_RESERVE_REPLY,
    ),
    enums=(STATUS,),
    doc="The shop of the sfidl documentation.\nOne instance of Inventory per item, of UserCart per user.",
)

# --- fixture_shop.sfidl: functions, ingresses, egresses

INVENTORY_RESERVE = RpcRef(
    function="Inventory",
    function_typename=f"{SHOP_PACKAGE}/inventory",
    handler="reserve",
    request=shop("Reserve"),
    reply=shop("Reserved"),
    errors=(shop("OutOfStock"),),
    call_envelope=shop("InventoryReserveCall"),
    reply_envelope=shop("InventoryReserveReply"),
)
INVENTORY_RESTOCK = SendRef("Inventory", f"{SHOP_PACKAGE}/inventory", "restock", shop("Restock"))
USER_CART_ADD = SendRef("UserCart", f"{SHOP_PACKAGE}/user_cart", "add", shop("AddToCart"))

INVENTORY = Function(
    name="Inventory",
    typename=f"{SHOP_PACKAGE}/inventory",
    span=at(70),
    states=(State("stock", scalar("int32"), at(71), default=0),),
    handlers=(
        Handler(
            "reserve",
            HandlerKind.RPC,
            shop("Reserve"),
            at(72),
            reply=shop("Reserved"),
            errors=(shop("OutOfStock"),),
            call_envelope=shop("InventoryReserveCall"),
            reply_envelope=shop("InventoryReserveReply"),
        ),
        Handler("restock", HandlerKind.ONEWAY, shop("Restock"), at(73)),
    ),
    doc="One instance per item.",
)
USER_CART = Function(
    name="UserCart",
    typename=f"{SHOP_PACKAGE}/user_cart",
    span=at(80),
    states=(
        State("cart", shop("Cart"), at(81), expiry=Expiry(ExpireMode.AFTER_WRITE, 3_600_000)),
        State("visits", scalar("int32"), at(82), default=0),
        State(
            "seen",
            scalar("string"),
            at(83),
            default="never",
            expiry=Expiry(ExpireMode.AFTER_CALL, 86_400_000),
        ),
    ),
    handlers=(
        Handler(
            "add",
            HandlerKind.ONEWAY,
            shop("AddToCart"),
            at(84),
            calls=(
                Call(
                    (INVENTORY_RESERVE,),
                    "reserved",
                    at(85),
                    carries=shop("AddToCart"),
                    timeout_millis=5000,
                ),
            ),
            sends=(INVENTORY_RESTOCK,),
        ),
        Handler("checkout", HandlerKind.ONEWAY, shop("Checkout"), at(86), emits=("receipts",)),
    ),
    timers=(Timer("expire", shop("ExpireCart"), at(87), sends=(INVENTORY_RESTOCK,)),),
    doc="One instance per user.",
)

SHOP = Program(
    files=(COMMON_FILE, SHOP_FILE),
    functions=(INVENTORY, USER_CART),
    ingresses=(
        Ingress(
            "add_to_cart",
            f"{SHOP_PACKAGE}/add_to_cart",
            IoKind.KAFKA,
            "add-to-cart",
            USER_CART_ADD,
            at(90),
        ),
    ),
    egresses=(
        Egress(
            "receipts",
            f"{SHOP_PACKAGE}/receipts",
            IoKind.KAFKA,
            "receipts",
            at(91),
            message=shop("Receipt"),
        ),
        Egress("dead", f"{SHOP_PACKAGE}/dead", IoKind.KAFKA, "dead-letters", at(92)),
    ),
    endpoint="http://functions:8000/statefun",
)
