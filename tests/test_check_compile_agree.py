"""`sfidl check` accepts a program exactly when `sfidl compile` succeeds, with the same errors.

The checker holds every rule and the generators reject nothing, so check (no protoc, no
black) and compile must agree; the programs drawn here are made of names prone to clash
with the generated Python (the stubs' own public names, builtins, names of generated
classes) and of names at protoc's length limit. Hypothesis runs derandomized and bounded.
"""

from __future__ import annotations

import ast
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from sfidl.compiler import Compiled, check_file, compile_file
from sfidl.diagnostics import CompileError, Diagnostic
from sfidl.frontend import LoadedProgram

T = TypeVar("T")

_FUNCTIONS = (
    "F G Self Str Super Sf Abc Builtins Frozenset Property FState FGoContext FGoToG GGoFunctions "
    "OopsError Playground CallId Timeout TimerId MainApp NAMESPACE MANIFEST F_go Fgo".split()
)
_MEMBERS = "go str sf self abc super tuple property add_item addItem OopsError FState".split()
_CONTINUATIONS = "done then OopsError FGoContext frozenset".split()
_STATES = "sf str abc n builtins timedelta".split()
_ERRORS = "Oops OopsError Timeout FState Fail".split()
# protoc refuses a full name over 65,535 characters: `a.<name>.x` is 4 more than the name.
_LONG = ("L" * 65_531, "L" * 65_532)
_LONG_EXAMPLE = (
    "namespace a;\nmessage {0} {{ int32 x = 1; }}\nfunction F {{ on go({0}); }}\n"
    'ingress i: kafka topic "t" -> F.go;\n'
)


@st.composite
def _program(draw: st.DrawFn) -> str:
    out = ["namespace a;\n", "message M { int32 x = 1; }\n", "message N {}\n"]
    if draw(st.integers(0, 9)) == 0:
        long_name = draw(st.sampled_from(_LONG))
        out.append(f"message {long_name} {{ int32 x = 1; }}\n")
    errors = draw(st.lists(st.sampled_from(_ERRORS), max_size=2, unique=True))
    out += [f"error {e} {{}}\n" for e in errors]
    functions = draw(st.lists(st.sampled_from(_FUNCTIONS), min_size=1, max_size=3, unique=True))
    handlers = {
        f: draw(st.lists(st.sampled_from(_MEMBERS), min_size=1, max_size=2, unique=True))
        for f in functions
    }
    rpcs = [(f, h) for f in functions for h in handlers[f][1:]]  # the first is one-way
    for function in functions:
        lines = [f"state {s}: int32;" for s in draw(st.lists(st.sampled_from(_STATES), max_size=2))]
        for i, handler in enumerate(handlers[function]):
            effects = ""
            if rpcs and draw(st.booleans()):
                target, rpc = draw(st.sampled_from(rpcs))
                continuation = draw(st.sampled_from(_CONTINUATIONS))
                effects += f" calls {target}.{rpc} -> {continuation}"
            if i == 0:
                request = "M" if function == functions[0] else "N"
                lines.append(f"on {handler}({request}){effects};")
            else:
                raises = f" raises {', '.join(errors)}" if errors else ""
                lines.append(f"rpc {handler}(N) returns M{raises}{effects};")
        out.append(f"function {function} {{ {' '.join(lines)} }}\n")
    out.append(f'ingress i: kafka topic "t" -> {functions[0]}.{handlers[functions[0]][0]};\n')
    return "".join(out)


def _outcome(run: Callable[[Path], T], path: Path) -> T | tuple[Diagnostic, ...]:
    """What checking or compiling ``path`` gives, or its errors; any other exception is a
    bug and fails the test."""
    try:
        return run(path)
    except CompileError as error:
        assert error.diagnostics
        return error.diagnostics


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_program(), st.sampled_from(["main", "timestamp", "sf"]))
@example(_LONG_EXAMPLE.format(_LONG[0]), "main")  # the longest name protoc takes
@example(_LONG_EXAMPLE.format(_LONG[1]), "main")
def test_check_accepts_exactly_what_compile_compiles(text: str, stem: str) -> None:
    with tempfile.TemporaryDirectory(prefix="sfidl-agree-") as folder:
        path = Path(folder) / f"{stem}.sfidl"
        path.write_text(text)
        checked = _outcome(check_file, path)
        compiled = _outcome(compile_file, path)
        if isinstance(compiled, Compiled):
            assert isinstance(checked, LoadedProgram), checked
            _assert_stubs_define_each_name_once(compiled.files[f"{stem}_sfidl.py"])
        else:
            assert checked == compiled, text[:2000]


def _assert_stubs_define_each_name_once(stubs: bytes) -> None:
    """The stubs compile (no duplicate argument, no bad syntax) and no top-level declaration
    replaces another: what the checker's clash rule is there to guarantee."""
    tree = ast.parse(stubs)
    compile(tree, "stubs", "exec")
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, duplicates
