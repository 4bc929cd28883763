"""Messages, errors and enums: declaring their names, then checking and building them."""

from __future__ import annotations

from sfidl import ast, model
from sfidl.check import rules
from sfidl.check.derived_names import (
    ENUM_ATTRIBUTES,
    MESSAGE_ATTRIBUTES,
    MODULE_ATTRIBUTES,
    MODULE_PREFIX,
    enum_value_key,
    field_number_constant,
    json_name,
    map_entry_name,
)
from sfidl.check.names import check_identifier, with_article
from sfidl.naming import snake_case
from sfidl.check.report import Reporter, where
from sfidl.check.scope import Resolver, SymbolTable, TypeSymbol
from sfidl.model import MessageOrigin, TypeKind, TypeRef

FIELD_NUMBER_MAX = 536_870_911
_IMPLEMENTATION_RESERVED = (19_000, 19_999)
_INT32 = (-(2**31), 2**31 - 1)
_MAP_KEYS = frozenset(
    "int32 int64 uint32 uint64 sint32 sint64 fixed32 fixed64 sfixed32 sfixed64 bool string".split()
)


def full_name(scope: str, name: str) -> str:
    return f"{scope}.{name}" if scope else name


# ---------------------------------------------------------------- declaring


# protoc's limits: deeper nesting or a longer package is rejected by protoc itself.
MAX_NESTING = 31
MAX_PACKAGE_LENGTH = 511
MAX_PACKAGE_PARTS = 101  # protoc: "Exceeds Maximum Package Depth" from 102 parts on


def declare_types(table: SymbolTable, report: Reporter, file: ast.File, proto_file: str) -> None:
    """Register every message, error and enum of ``file`` and claim their scope names."""
    if len(file.package) > MAX_PACKAGE_LENGTH:
        report.error(
            file.namespace.span,
            f"the namespace is {len(file.package)} characters long; protobuf allows "
            f"{MAX_PACKAGE_LENGTH}",
            code=rules.NAMESPACE_TOO_LONG,
        )
    parts = len(file.namespace.parts)
    if parts > MAX_PACKAGE_PARTS:
        report.error(
            file.namespace.span,
            f"the namespace has {parts} parts; protobuf allows {MAX_PACKAGE_PARTS}",
            code=rules.NAMESPACE_TOO_DEEP,
        )
    _declare(table, report, file, proto_file, file.package, file.messages, file.enums)


def _declare(
    table: SymbolTable,
    report: Reporter,
    file: ast.File,
    proto_file: str,
    scope: str,
    messages: tuple[ast.Message, ...],
    enums: tuple[ast.Enum, ...],
) -> None:
    top_level = scope == file.package
    for message in messages:
        what = "error" if message.is_error else "message"
        if check_identifier(report, message.name, what):
            _check_python_attribute(report, message.name, what, top_level)
        name = full_name(scope, message.name.text)
        depth = name.count(".") - file.package.count(".")
        if depth == MAX_NESTING + 1:  # reported once, at the first level too deep
            report.error(
                message.name.span,
                f"messages nest {MAX_NESTING} levels deep at most",
                hint="protoc rejects deeper nesting; declare the message at the top level",
                code=rules.MESSAGE_NESTING,
            )
        if table.claim(report, scope, message.name, "type"):
            origin = MessageOrigin.ERROR if message.is_error else MessageOrigin.MESSAGE
            ref = TypeRef(TypeKind.MESSAGE, name, file.package, proto_file)
            table.types[name] = TypeSymbol(ref, origin, file.path, message.name.span)
        for field in _all_fields(message):
            table.claim(report, name, field.name, "field")
            if check_identifier(report, field.name, "field"):
                _check_python_attribute(report, field.name, "field", top_level=False)
        for oneof in message.oneofs:
            table.claim(report, name, oneof.name, "oneof")
            check_identifier(report, oneof.name, "oneof")
        _declare(table, report, file, proto_file, name, message.messages, message.enums)
    # mypy-protobuf's stubs name a nested enum's types from the outermost message, from
    # inside the enum's own scope: an enum of that very name would hide the message.
    outermost = None if top_level else scope[len(file.package) + 1 :].split(".")[0]
    for enum in enums:
        if check_identifier(report, enum.name, "enum"):
            _check_python_attribute(report, enum.name, "enum", top_level)
            if enum.name.text == outermost:
                report.error(
                    enum.name.span,
                    f"an enum inside the message `{outermost}` cannot be named `{outermost}` too",
                    hint="the generated Python stubs would find the enum where they mean the "
                    "message; rename the enum",
                    code=rules.ENUM_SHADOWS_MESSAGE,
                )
        name = full_name(scope, enum.name.text)
        if table.claim(report, scope, enum.name, "type"):
            ref = TypeRef(TypeKind.ENUM, name, file.package, proto_file)
            table.types[name] = TypeSymbol(ref, None, file.path, enum.name.span)
        for value in enum.values:
            # protobuf scopes enum values like C++: as siblings of their enum.
            table.claim(report, scope, value.name, "enum value")
            if check_identifier(report, value.name, "enum value") and value.name.text in (
                ENUM_ATTRIBUTES
            ):
                report.error(
                    value.name.span,
                    f"`{value.name.text}` cannot name an enum value: the generated Python "
                    f"enum class already has `{value.name.text}`",
                    hint="rename it, e.g. with the enum's name as a prefix",
                    code=rules.NAME_CLASH,
                )
            else:
                _check_python_attribute(report, value.name, "enum value", top_level)


def _check_python_attribute(report: Reporter, name: ast.Name, what: str, top_level: bool) -> None:
    """Report a name the generated Python already uses where this one would go."""
    text = name.text
    if top_level and (text in MODULE_ATTRIBUTES or text.startswith(MODULE_PREFIX)):
        taken = text if text in MODULE_ATTRIBUTES else f"{MODULE_PREFIX}..."
        report.error(
            name.span,
            f"`{text}` cannot name a top-level {what}: the generated `_pb2` module "
            f"already defines `{taken}`",
            hint="rename it",
            code=rules.NAME_CLASH,
        )
    elif not top_level and text in MESSAGE_ATTRIBUTES:
        report.error(
            name.span,
            f"`{text}` cannot name {with_article(what)} inside a message: every generated "
            f"message class already has `{text}`",
            hint="rename it; protobuf's message classes have `DESCRIPTOR` and methods such as "
            "`Clear` and `HasField`",
            code=rules.NAME_CLASH,
        )


def _all_fields(message: ast.Message) -> list[ast.Field]:
    fields = list(message.fields) + [f for o in message.oneofs for f in o.fields]
    return sorted(fields, key=lambda f: f.span)


# ---------------------------------------------------------------- building


def build_message(
    resolver: Resolver, report: Reporter, message: ast.Message, scope: str, proto_file: str
) -> model.MessageType:
    name = full_name(scope, message.name.text)
    oneof_of = {id(f): o.name.text for o in message.oneofs for f in o.fields}
    reserved = _reserved(report, message.reserved)
    fields: list[model.Field] = []
    numbers: dict[int, ast.Field] = {}
    _check_derived_names(resolver, report, message, name)
    for field in _all_fields(message):
        _check_number(report, field, numbers, reserved)
        if field.name.text in reserved.names:
            report.error(
                field.name.span,
                f"field name `{field.name.text}` is reserved",
                code=rules.RESERVED_FIELD_NAME,
            )
        oneof = oneof_of.get(id(field))
        if oneof is not None and field.label is not None:
            report.error(
                field.span,
                f"a oneof cannot hold {with_article(field.label + ' field')}",
                hint=f"wrap `{field.name.text}` in a message to put it in `{oneof}`",
                code=rules.ONEOF_LABEL,
            )
        built = _field(resolver, report, field, name, oneof)
        if built is not None:
            fields.append(built)
    return model.MessageType(
        name=message.name.text,
        full_name=name,
        fields=tuple(fields),
        span=message.name.span,
        oneofs=tuple(o.name.text for o in message.oneofs),
        messages=tuple(
            build_message(resolver, report, m, name, proto_file) for m in message.messages
        ),
        enums=tuple(build_enum(report, e, name) for e in message.enums),
        reserved=reserved,
        origin=MessageOrigin.ERROR if message.is_error else MessageOrigin.MESSAGE,
        doc=message.doc,
    )


def _check_derived_names(
    resolver: Resolver, report: Reporter, message: ast.Message, name: str
) -> None:
    """The names protoc and its Python derive from the fields must not collide."""
    fields = _all_fields(message)
    attributes = {f.name.text for f in fields}
    attributes.update(m.name.text for m in message.messages)
    attributes.update(e.name.text for e in message.enums)
    attributes.update(v.name.text for e in message.enums for v in e.values)
    json_names: dict[str, ast.Field] = {}
    constants: dict[str, ast.Field] = {}
    for field in fields:
        text = field.name.text
        previous = json_names.setdefault(json_name(text), field)
        if previous is not field and previous.name.text != text:
            report.error(
                field.name.span,
                f"fields `{previous.name.text}` and `{text}` have the same JSON name "
                f"`{json_name(text)}`",
                hint="protobuf's JSON mapping drops `_` and capitalizes the letter after it; "
                "rename one of them",
                code=rules.JSON_NAME_CLASH,
            )
        constant = field_number_constant(text)
        previous = constants.setdefault(constant, field)
        if previous is not field and previous.name.text != text:
            report.error(
                field.name.span,
                f"fields `{previous.name.text}` and `{text}` would both generate the Python "
                f"constant `{constant}`",
                hint="field names that differ only in case collide in Python; rename one",
                code=rules.NAME_CLASH,
            )
        elif constant in attributes:
            report.error(
                field.name.span,
                f"the field `{text}` would generate the Python constant `{constant}`, "
                f"which is already a name in `{message.name.text}`",
                hint="rename one of them",
                code=rules.NAME_CLASH,
            )
        if field.label != "map":
            continue
        # Two map fields with one entry name already collide in JSON or Python names.
        entry = map_entry_name(text)
        declared = resolver.table.names.get(full_name(name, entry))
        if declared is not None:
            report.error(
                field.name.span,
                f"the map field `{text}` needs the generated nested message `{entry}`, "
                f"but `{entry}` is declared at {where(declared)}",
                hint=f"rename `{entry}` or the field",
                code=rules.MAP_ENTRY_CLASH,
            )


def _field(
    resolver: Resolver, report: Reporter, field: ast.Field, scope: str, oneof: str | None
) -> model.Field | None:
    value = resolver.type(field.type, scope)
    key: TypeSymbol | None = None
    if field.map_key is not None:
        key = resolver.type(field.map_key, scope)
        if key is not None and key.ref.name not in _MAP_KEYS:
            report.error(
                field.map_key.span,
                f"a map key must be an integer, `bool` or `string`, not {key.describe()}",
                code=rules.BAD_MAP_KEY,
            )
            return None
    if value is None or (field.map_key is not None and key is None):
        return None
    label = {
        None: model.Label.SINGULAR,
        "optional": model.Label.OPTIONAL,
        "repeated": model.Label.REPEATED,
        "map": model.Label.MAP,
    }[field.label]
    return model.Field(
        name=field.name.text,
        number=field.number,
        type=value.ref,
        label=label,
        span=field.name.span,
        map_key=key.ref if key is not None else None,
        oneof=oneof,
        doc=field.doc,
    )


def _check_number(
    report: Reporter, field: ast.Field, numbers: dict[int, ast.Field], reserved: model.Reserved
) -> None:
    number = field.number
    if not 1 <= number <= FIELD_NUMBER_MAX:
        report.error(
            field.number_span,
            f"field number {number} is out of range",
            hint=f"field numbers go from 1 to {FIELD_NUMBER_MAX}",
            code=rules.FIELD_NUMBER_RANGE,
        )
        return
    low, high = _IMPLEMENTATION_RESERVED
    if low <= number <= high:
        report.error(
            field.number_span,
            f"field number {number} is reserved for the protobuf implementation",
            hint=f"numbers {low} to {high} cannot be used",
            code=rules.FIELD_NUMBER_IMPLEMENTATION,
        )
        return
    if any(start <= number <= end for start, end in reserved.ranges):
        report.error(
            field.number_span,
            f"field number {number} is reserved",
            code=rules.FIELD_NUMBER_RESERVED,
        )
        return
    previous = numbers.get(number)
    if previous is not None:
        report.error(
            field.number_span,
            f"field number {number} is already used by `{previous.name.text}`",
            hint=f"`{previous.name.text}` is at {where(previous.name.span)}",
            code=rules.DUPLICATE_FIELD_NUMBER,
        )
        return
    numbers[number] = field


def _reserved(
    report: Reporter, statements: tuple[ast.Reserved, ...], field_numbers: bool = True
) -> model.Reserved:
    ranges: list[tuple[int, int]] = []
    names: list[str] = []
    # `max` is the largest field number, or the largest enum value.
    largest = FIELD_NUMBER_MAX if field_numbers else _INT32[1]
    for statement in statements:
        for item in statement.items:
            if isinstance(item, ast.ReservedName):
                names.append(item.name)
                continue
            end = largest if item.end is None else item.end
            if item.start > end:
                report.error(
                    item.span,
                    f"reserved range {item.start} to {end} is empty",
                    code=rules.BAD_RESERVED_RANGE,
                )
            elif end > largest or (field_numbers and item.start < 1):
                report.error(
                    item.span,
                    f"reserved range {item.start} to {end} is out of range",
                    hint=(
                        f"field numbers go from 1 to {FIELD_NUMBER_MAX}"
                        if field_numbers
                        else f"enum values go up to {largest}"
                    ),
                    code=rules.BAD_RESERVED_RANGE,
                )
            else:
                ranges.append((item.start, end))
    return model.Reserved(tuple(ranges), tuple(names))


def build_enum(report: Reporter, enum: ast.Enum, scope: str) -> model.EnumType:
    name = full_name(scope, enum.name.text)
    if not enum.values:
        report.error(
            enum.name.span, f"enum `{enum.name.text}` has no values", code=rules.EMPTY_ENUM
        )
    elif enum.values[0].number != 0:
        first = enum.values[0]
        report.error(
            first.span,
            f"the first value of a proto3 enum must be 0, not {first.number}",
            hint=f"add a default first value, e.g. `{_prefix(enum.name.text)}_UNSPECIFIED = 0;`",
            code=rules.ENUM_FIRST_VALUE,
        )
    reserved = _reserved(report, enum.reserved, field_numbers=False)
    numbers: dict[int, ast.EnumValue] = {}
    keys: dict[str, ast.EnumValue] = {}
    values: list[model.EnumValue] = []
    for value in enum.values:
        if value.name.text in reserved.names:
            report.error(
                value.name.span,
                f"enum value name `{value.name.text}` is reserved",
                code=rules.RESERVED_ENUM_VALUE_NAME,
            )
        if not _INT32[0] <= value.number <= _INT32[1]:
            report.error(
                value.span,
                f"enum value {value.number} is out of the int32 range",
                code=rules.ENUM_VALUE_RANGE,
            )
        elif any(start <= value.number <= end for start, end in reserved.ranges):
            report.error(
                value.span,
                f"enum value number {value.number} is reserved",
                code=rules.ENUM_VALUE_RESERVED,
            )
        elif value.number in numbers:
            previous = numbers[value.number]
            report.error(
                value.span,
                f"enum value number {value.number} is already used by `{previous.name.text}`",
                hint="aliases (`option allow_alias`) are not supported",
                code=rules.DUPLICATE_ENUM_VALUE,
            )
        numbers.setdefault(value.number, value)
        key = enum_value_key(enum.name.text, value.name.text)
        same = keys.setdefault(key, value)
        if same.name.text != value.name.text and same.number != value.number:
            report.error(
                value.name.span,
                f"enum values `{same.name.text}` and `{value.name.text}` are the same name "
                f"`{key}` once the enum's prefix and case are ignored",
                hint="protoc rejects such values, so that languages can drop the prefix; "
                "rename one of them",
                code=rules.ENUM_VALUE_PREFIX_CLASH,
            )
        values.append(model.EnumValue(value.name.text, value.number, value.span, value.doc))
    return model.EnumType(
        enum.name.text, name, tuple(values), enum.name.span, enum.doc, reserved=reserved
    )


def _prefix(enum_name: str) -> str:
    return snake_case(enum_name).upper()
