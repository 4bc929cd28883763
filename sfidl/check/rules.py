"""Every rule a user can break, each with a stable id shown in its diagnostic.

A diagnostic renders as ``error[unknown-type]: ...`` or ``warning[unused-message]: ...``:
the id names the rule, so a user can look it up (docs/language.md lists them) and a test
can ask for it without matching the words. Ids are kebab-case and never change meaning;
a rule that goes away leaves its id unused rather than giving it to another rule.

Each constant below is the id itself (a ``str``), passed as ``code=`` wherever a
diagnostic is made; :data:`RULES` holds what the documentation and tests need about
each: its severity and a one-line summary. Lint rules (sfidl/check/lint.py) are here
too, as warnings; ``sfidl breaking``'s rules live with it (sfidl/breaking/rules.py), as
they compare two versions rather than judge one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sfidl.diagnostics import Severity


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    summary: str  # one line, for docs/language.md's list


RULES: dict[str, Rule] = {}


def _rule(id: str, severity: Severity, summary: str) -> str:
    assert id not in RULES, id
    RULES[id] = Rule(id, severity, summary)
    return id


def _error(id: str, summary: str) -> str:
    return _rule(id, Severity.ERROR, summary)


def _warning(id: str, summary: str) -> str:
    return _rule(id, Severity.WARNING, summary)


# ---------------------------------------------------------------- reading and parsing

UNREADABLE_FILE = _error("unreadable-file", "a file to compile or import cannot be read")
NOT_UTF8 = _error("not-utf8", "a file is not UTF-8 text")
UNEXPECTED_TOKEN = _error("unexpected-token", "the text does not follow the grammar here")
UNEXPECTED_CHARACTER = _error("unexpected-character", "a character the language has no use for")
UNTERMINATED_STRING = _error("unterminated-string", 'a string without its closing `"`')
UNTERMINATED_COMMENT = _error("unterminated-comment", "a `/*` comment without its `*/`")
UNKNOWN_ESCAPE = _error("unknown-escape", "a backslash escape a string cannot hold")
TOO_DEEP = _error("too-deep", "declarations nested deeper than the parser can follow")

# ---------------------------------------------------------------- files and imports

IMPORT_NOT_SFIDL = _error("import-not-sfidl", "an import of a file that is not .sfidl")
IMPORT_CYCLE = _error("import-cycle", "files that import each other")
DUPLICATE_IMPORT = _error("duplicate-import", "a file imported twice")
FILE_NAME = _error("file-name", "a file name that cannot name a Python module")
PROTO_FILE_CLASH = _error("proto-file-clash", "two files that would compile to one .proto")
NOT_IMPORTED = _error("not-imported", "a name declared in a file this file does not import")

# ---------------------------------------------------------------- names and scopes

BAD_NAME = _error("bad-name", "a name that is not ASCII letters, digits and `_`")
PYTHON_KEYWORD = _error("python-keyword", "a Python keyword used as a name")
RESERVED_PREFIX = _error("reserved-prefix", "a name starting with `_` or `sfidl`")
DUPLICATE_NAME = _error("duplicate-name", "two declarations of one name in one scope")
UNKNOWN_TYPE = _error("unknown-type", "a type name that names nothing")
UNKNOWN_FUNCTION = _error("unknown-function", "a function name that names nothing")
NAME_CLASH = _error("name-clash", "a name that clashes with a name of the generated code")

# ---------------------------------------------------------------- namespaces and types

NAMESPACE_TOO_LONG = _error("namespace-too-long", "a namespace longer than protobuf allows")
NAMESPACE_TOO_DEEP = _error("namespace-too-deep", "a namespace of more parts than protoc allows")
NAME_TOO_LONG = _error("name-too-long", "a protobuf full name longer than protoc allows (65,535)")
FILE_NAME_TOO_LONG = _error(
    "file-name-too-long", "a .sfidl file whose outputs' names are too long for a file system"
)
MESSAGE_NESTING = _error("message-nesting", "messages nested deeper than protoc allows")
ENUM_SHADOWS_MESSAGE = _error(
    "enum-shadows-message", "a nested enum named as its outermost message"
)
RESERVED_FIELD_NAME = _error("reserved-field-name", "a field named by a `reserved` name")
ONEOF_LABEL = _error("oneof-label", "a `repeated` or `optional` field inside a oneof")
JSON_NAME_CLASH = _error("json-name-clash", "two fields of one JSON name")
MAP_ENTRY_CLASH = _error("map-entry-clash", "a map field whose entry message is already declared")
BAD_MAP_KEY = _error("bad-map-key", "a map key that is not an integer, `bool` or `string`")
FIELD_NUMBER_RANGE = _error("field-number-range", "a field number outside 1 to 536870911")
FIELD_NUMBER_IMPLEMENTATION = _error(
    "field-number-implementation", "a field number in protobuf's own 19000-19999"
)
FIELD_NUMBER_RESERVED = _error("field-number-reserved", "a field number the message reserves")
DUPLICATE_FIELD_NUMBER = _error("duplicate-field-number", "two fields of one number")
BAD_RESERVED_RANGE = _error("bad-reserved-range", "a reserved range that is empty or out of range")
EMPTY_ENUM = _error("empty-enum", "an enum without values")
ENUM_FIRST_VALUE = _error("enum-first-value", "an enum whose first value is not 0")
RESERVED_ENUM_VALUE_NAME = _error("reserved-enum-value-name", "an enum value of a reserved name")
ENUM_VALUE_RANGE = _error("enum-value-range", "an enum value outside the int32 range")
ENUM_VALUE_RESERVED = _error("enum-value-reserved", "an enum value of a reserved number")
DUPLICATE_ENUM_VALUE = _error("duplicate-enum-value", "two values of one number in one enum")
ENUM_VALUE_PREFIX_CLASH = _error(
    "enum-value-prefix-clash", "two enum values alike once the enum's prefix and case are ignored"
)

# ---------------------------------------------------------------- functions and handlers

DUPLICATE_FUNCTION = _error("duplicate-function", "two functions of one name")
TYPENAME_CLASH = _error("typename-clash", "two functions of one StateFun typename")
NO_HANDLERS = _error("no-handlers", "a function without handlers")
DUPLICATE_ONE_WAY_REQUEST = _error(
    "duplicate-one-way-request", "two one-way handlers of a function receiving one type"
)
DUPLICATE_MEMBER = _error("duplicate-member", "two handlers, timers or continuations of one name")
RAISES_NOT_ERROR = _error("raises-not-error", "`raises` naming a type that is not an `error`")
DUPLICATE_RAISES = _error("duplicate-raises", "an error raised twice by one handler")
NOT_A_MESSAGE = _error("not-a-message", "a request, reply or payload that is not a message")
ENVELOPE_CLASH = _error("envelope-clash", "a generated envelope message that clashes with a type")
REPLY_FIELD_CLASH = _error("reply-field-clash", "two fields of one name in a reply envelope")

# ---------------------------------------------------------------- effects and calls

UNKNOWN_HANDLER = _error("unknown-handler", "a `Function.handler` naming no handler")
UNKNOWN_TIMER = _error("unknown-timer", "`sets` naming no timer of the function")
UNKNOWN_RPC = _error("unknown-rpc", "`completes` naming no rpc of the function")
COMPLETES_ONE_WAY = _error("completes-one-way", "`completes` naming a one-way handler")
CALLS_ONE_WAY = _error("calls-one-way", "`calls` naming a one-way handler")
SENDS_RPC = _error("sends-rpc", "`sends` naming an rpc handler")
TIMER_NOT_HANDLER = _error("timer-not-handler", "a message sent or routed to a timer")
DUPLICATE_JOIN_CALL = _error("duplicate-join-call", "one rpc called twice in one join")
DUPLICATE_EFFECT_TARGET = _error(
    "duplicate-effect-target", "one name twice in `sends`, `emits`, `sets` or `completes`"
)
CONTINUATION_CONFLICT = _error(
    "continuation-conflict", "one rpc called with two continuations by one function"
)
CONTINUATION_MISMATCH = _error(
    "continuation-mismatch", "one continuation for calls of different targets, payloads or timeouts"
)
UNKNOWN_EGRESS = _error("unknown-egress", "`emits` naming no egress")
EMITS_DEAD_LETTERS = _error("emits-dead-letters", "`emits` naming the dead-letter egress")
DEADLOCK = _error("deadlock", "calls that could wait on an exclusive function for ever")
TIMEOUT_UNBOUNDED = _warning(
    "timeout-unbounded", "a call timeout on an rpc that may wait for ever before it answers"
)
TIMEOUT_TOO_SHORT = _warning(
    "timeout-too-short", "a call timeout no longer than the callee may wait before it answers"
)

# ---------------------------------------------------------------- states

STATE_NAME_CASE = _error("state-name-case", "a state name that is not lower case")
DUPLICATE_STATE = _error("duplicate-state", "two states of one name in a function")
BAD_STATE_TYPE = _error("bad-state-type", "a state of a type StateFun cannot store")
BAD_DURATION = _error("bad-duration", "a duration of 0 or beyond Python's timedelta")
MESSAGE_STATE_DEFAULT = _error("message-state-default", "a default on a message state")
DEFAULT_RANGE = _error("default-range", "a state default outside its type's range")
DEFAULT_TYPE = _error("default-type", "a state default of the wrong kind for its type")
MIGRATE_FROM_SAME_TYPE = _error("migrate-from-same-type", "a state migrating from its own type")
UPGRADE_METHOD_CLASH = _error(
    "upgrade-method-clash", "a migrated state's `migrate_<state>` method named like a member"
)

# ---------------------------------------------------------------- settings, ingresses, egresses

DUPLICATE_SETTING = _error(
    "duplicate-setting", "an `endpoint`, `kafka brokers` or `kinesis region` twice"
)
BAD_ENDPOINT = _error("bad-endpoint", "an endpoint that is not an http(s) URL")
EMPTY_SETTING = _error("empty-setting", "a setting with an empty value")
BAD_KAFKA_BROKERS = _error("bad-kafka-brokers", "Kafka brokers that are not `host:port` items")
BAD_AWS_REGION = _error("bad-aws-region", "a Kinesis region that is not an AWS region")
BAD_CHANNEL_NAME = _error(
    "bad-channel-name", "a Kafka topic or Kinesis stream name Kafka or AWS refuse"
)
DUPLICATE_EGRESS = _error("duplicate-egress", "two egresses of one name")
DUPLICATE_DEAD_LETTERS = _error("duplicate-dead-letters", "two dead-letter egresses")
DUPLICATE_INGRESS = _error("duplicate-ingress", "two ingresses of one name")
INGRESS_TO_RPC = _error("ingress-to-rpc", "an ingress routed to an rpc handler")
INGRESS_TYPE = _error("ingress-type", "an ingress of a type its handler does not receive")
NO_INGRESS = _warning("no-ingress", "a program with functions but no ingress")

# ---------------------------------------------------------------- sfidl breaking's suppressions
# (its own rules, which compare two versions, are in sfidl/breaking/rules.py)

BAD_ALLOW = _error("bad-allow", "a `// sfidl:allow` naming no rule or an unknown one, or no reason")
UNUSED_ALLOW = _warning("unused-allow", "a `// sfidl:allow` that accepts no change")

# ---------------------------------------------------------------- sfidl fmt

FMT_FAILED = _error("fmt-failed", "sfidl fmt could not reformat a file (a bug in sfidl fmt)")

# ---------------------------------------------------------------- lint (sfidl/check/lint.py)

UNUSED_MESSAGE = _warning("unused-message", "a message nothing uses")
UNREACHABLE_HANDLER = _warning("unreachable-handler", "a handler or timer no message can reach")
UNUSED_EGRESS = _warning("unused-egress", "an egress nothing emits to")
CALL_TIMEOUT = _warning("call-timeout", "a call without a timeout")
UNBOUNDED_STATE = _warning("unbounded-state", "state kept per record key without expiry")
PASCAL_CASE = _warning("pascal-case", "a message, error, enum or function not in PascalCase")
SNAKE_CASE = _warning("snake-case", "a field, state, handler or timer not in snake_case")
ENUM_VALUE_NAME = _warning(
    "enum-value-name", "an enum value not UPPER_SNAKE_CASE with the enum's prefix"
)
BAD_SUPPRESSION = _warning(
    "bad-suppression", "a `// sfidl:allow-lint` without a reason, of an unknown id, or unused"
)
