"""The `sfidl` command: thin argument handling over the compiler and the local runtime."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sfidl import __version__
from sfidl.dataclass_code import cached
from sfidl.diagnostics import CompileError, Diagnostic, render_all

if TYPE_CHECKING:
    from sfidl.breaking.rule import Category
    from sfidl.compiler import Compiled

# Exit codes: 0 success, 1 the input has errors, 2 bad command line, 69 the compiler extra is
# not installed, 70 a bug in sfidl.
EXIT_ERRORS = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69
EXIT_INTERNAL = 70

# What the `compiler` extra installs (pyproject.toml), by top-level module: a base install (the
# runtime library only, for a function server) lacks them.
COMPILER_MODULES = frozenset({"lark", "jinja2", "black", "grpc_tools", "mypy_protobuf", "pygls"})

ISSUES_URL = "https://github.com/sfidl/sfidl/issues"


class UsageError(Exception):
    """A mistake in how sfidl was invoked (not in a .sfidl file)."""


def main(argv: Sequence[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    parser = _parser(given[0] if given else None)
    try:
        # Every command imports many dataclasses (the AST, the model...); parsing the
        # arguments already may: --lint's default imports the front end.
        with cached():
            args = parser.parse_args(given)
            args.argv = list(given)  # `run --reload` restarts
            result: int = args.run(args)
        return result
    except CompileError as error:
        print(error.render(), file=sys.stderr)
        return EXIT_ERRORS
    except UsageError as error:
        print(f"sfidl: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] not in COMPILER_MODULES:
            return _internal_error()
        print(
            f"sfidl: error: this command needs sfidl's compiler, which is not installed (no "
            f"module {error.name!r}); install it with: pip install 'sfidl[compiler]'",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    except Exception:
        return _internal_error()


def _internal_error() -> int:
    print(
        "sfidl: internal error: this is a bug in sfidl, not in your files.\n"
        f"Please report it at {ISSUES_URL} with the input and this trace:\n",
        file=sys.stderr,
    )
    traceback.print_exc()
    return EXIT_INTERNAL


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; for ``command`` compile or check, only as much of it as that
    command's arguments need (each subcommand's parser costs about a millisecond to build,
    most of it looking up translations of argparse's own words)."""
    parser = argparse.ArgumentParser(
        prog="sfidl",
        description="Typed interfaces for Apache Flink Stateful Functions: compile .sfidl files, "
        "run an application locally.",
    )
    parser.add_argument("--version", action="version", version=f"sfidl {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    compile_ = commands.add_parser(
        "compile",
        help="compile .sfidl files into .proto, _pb2.py/.pyi, typed stubs and module.yaml",
        description="Compile each FILE (and the files it imports) into DIR: <name>.proto, "
        "<name>_pb2.py, <name>_pb2.pyi, <name>_sfidl.py, module.yaml and "
        "module.playground.yaml. Nothing is written unless every file compiles.",
    )
    compile_.add_argument("files", nargs="+", type=Path, metavar="FILE")
    compile_.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="output folder (default: .)",
    )
    compile_.add_argument(
        "--endpoint",
        metavar="URL",
        help="the URL StateFun reaches the functions at (overrides the file's)",
    )
    compile_.add_argument(
        "--watch",
        action="store_true",
        help="keep running: compile again whenever FILE or a file it imports changes; errors "
        "are reported and the last good outputs kept (Ctrl-C stops)",
    )
    _lint_option(compile_, "none")
    compile_.set_defaults(run=_compile, write=True)

    check = commands.add_parser(
        "check",
        help="check .sfidl files as compile would, writing nothing (for editors and CI)",
        description="Check each FILE (and the files it imports) exactly as `compile` would, "
        "and report every error and warning, lint warnings included; write nothing.",
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _lint_option(check, "all")
    check.set_defaults(run=_compile, write=False, endpoint=None, out=None, watch=False)
    if command in ("compile", "check"):
        return parser

    lsp = commands.add_parser(
        "lsp",
        help="serve an editor: the sfidl language server over standard input and output",
        description="Run the language server (LSP over stdio): diagnostics as you type, "
        "hover, go to definition, completion, document symbols and formatting (sfidl fmt).",
    )
    # Editors' LSP clients (vscode-languageclient) name the transport on the command line.
    lsp.add_argument("--stdio", action="store_true", help="the transport (the only one)")
    lsp.set_defaults(run=_lsp)

    breaking = commands.add_parser(
        "breaking",
        help="report what a new version of a .sfidl file breaks in a deployed application",
        description="Compare FILE with its previous version: wire and JSON encoding, "
        "typenames, persisted state, pending calls, ingresses and egresses (docs/breaking.md). "
        "Exit 0 when safe, 1 with breaking changes, 2 when either version does not compile.",
    )
    breaking.add_argument("file", type=Path, metavar="FILE")
    against = breaking.add_mutually_exclusive_group(required=True)
    against.add_argument("--against", type=Path, metavar="OLD", help="the previous version")
    against.add_argument(
        "--against-git",
        metavar="REF",
        help="the previous version is FILE (and its imports) at this git revision",
    )
    breaking.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="diagnostics (default), one JSON document, or GitHub Actions annotations",
    )
    _add_category_options(breaking)
    breaking.set_defaults(run=_breaking)

    run = commands.add_parser(
        "run",
        help="run an application on the embedded local runtime (no cluster)",
        description="Compile FILE into DIR, import the application object and run it on the "
        "local runtime: HTTP ingress and egress as the StateFun playground image serves them"
        " (ports 8090 and 8091), state in SQLite. See docs/local-runtime.md.",
    )
    run.add_argument("file", type=Path, metavar="FILE")
    run.add_argument(
        "--app",
        required=True,
        metavar="MODULE[:OBJECT]",
        help="the module holding the application object (default object name: app)",
    )
    run.add_argument(
        "-o",
        "--out",
        type=Path,
        metavar="DIR",
        help="where to compile FILE (default: FILE's folder/gen)",
    )
    run.add_argument(
        "--remote", action="store_true", help="invoke the functions over HTTP at the endpoint"
    )
    run.add_argument("--endpoint", metavar="URL", help="with --remote: the functions' URL")
    run.add_argument(
        "--db", type=Path, metavar="PATH", help="the SQLite file (default: .sfidl/local.sqlite)"
    )
    run.add_argument(
        "--port",
        type=_port,
        default=8090,
        metavar="N",
        help="HTTP ingress port on 127.0.0.1, as the playground's (default 8090; 0: any free port)",
    )
    run.add_argument(
        "--egress-port",
        type=_port,
        default=8091,
        metavar="N",
        help="HTTP egress port on 127.0.0.1, as the playground's (default 8091; 0: any free port)",
    )
    run.add_argument(
        "--ingress-file",
        type=Path,
        action="append",
        default=[],
        metavar="F",
        help="a JSON-lines file of ingress records to feed (repeatable)",
    )
    run.add_argument(
        "--egress-dir", type=Path, metavar="D", help="write egress records as JSON lines here"
    )
    run.add_argument(
        "--stop-when-idle",
        action="store_true",
        help="exit once the ingress files are read, nothing is queued or in flight and no delayed"
        " message is due within the idle horizon; say what is left",
    )
    run.add_argument(
        "--idle-horizon",
        type=_duration,
        default=60.0,
        metavar="DURATION",
        help="with --stop-when-idle: delayed messages due later than this do not keep the run"
        " going; they stay in the database (e.g. 0s, 30s, 5min, 2h; default 1min)",
    )
    run.add_argument(
        "--no-stdout", action="store_true", help="do not print egress records on standard output"
    )
    run.add_argument(
        "--call-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="per request, all retries included, before a function counts as failed (default 60)",
    )
    run.add_argument(
        "--reload",
        action="store_true",
        help="recompile when FILE, its imports or the app's modules change, and restart the "
        "functions on a good compile (state kept; errors reported, the running app kept)",
    )
    run.set_defaults(run=_run)

    fmt = commands.add_parser(
        "fmt",
        help="rewrite .sfidl files in the canonical layout, comments kept",
        description="Rewrite each FILE in place in the one canonical layout (comments and doc "
        "comments kept where they were). A file that does not parse is reported and left "
        "untouched.",
    )
    fmt.add_argument("files", nargs="+", type=Path, metavar="FILE")
    fmt.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if some FILE is not formatted (for CI)",
    )
    fmt.add_argument(
        "--diff", action="store_true", help="write nothing; print what would change as a diff"
    )
    fmt.set_defaults(run=_fmt)

    graph = commands.add_parser(
        "graph",
        help="draw the application: functions, ingresses, egresses and who calls what",
        description="Draw FILE's application from its checked model: functions with their "
        "states (exclusive ones marked), ingresses, egresses, and an edge for each declared "
        "call (continuation, timeout), send, emit, timer and deferred completion. Mermaid on "
        "standard output by default.",
    )
    graph.add_argument("file", type=Path, metavar="FILE")
    graph.add_argument(
        "-o",
        "--out",
        type=Path,
        metavar="OUT",
        help="write OUT instead: .mmd (Mermaid), .dot (Graphviz) or .svg (needs Graphviz's dot)",
    )
    graph.set_defaults(run=_graph)

    init = commands.add_parser(
        "init",
        help="start a project: a .sfidl file, an app module, a test and a README",
        description="Create the folder NAME with a starter application that compiles, "
        "type-checks and passes its tests as created: NAME.sfidl, NAME_app.py, test_NAME.py "
        "(on the Harness), a README and the pytest and mypy settings.",
    )
    init.add_argument("name", metavar="NAME", help="the project, its namespace and its modules")
    init.set_defaults(run=_init)
    return parser


def _add_category_options(parser: argparse.ArgumentParser) -> None:
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument(
        "--categories",
        type=_categories,
        metavar="C,...",
        help="check only these categories (WIRE, JSON, TYPENAME, STATE, CALLS, IO)",
    )
    chosen.add_argument(
        "--except",
        dest="excluded",
        type=_categories,
        metavar="C,...",
        help="skip these categories",
    )


def _categories(text: str) -> frozenset[Category]:
    """``--categories``/``--except``: imported when used, not on every run of the command line
    (sfidl.breaking loads every rule)."""
    from sfidl.breaking.rule import parse_categories

    return parse_categories(text)


def _breaking(args: argparse.Namespace) -> int:
    from sfidl.breaking.command import run_breaking

    return run_breaking(args)


def _port(text: str) -> int:
    """A TCP port number, 0 (any free port) to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give 0 to 65535")
    return int(text)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def _duration(text: str) -> float:
    """A duration as the IDL writes one (``500ms``, ``30s``, ``5min``, ``2h``, ``1d``), in seconds."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: a number and a unit, ms, s, min, h or d (e.g. 30s)"
        )
    return float(found.group(1)) * _SECONDS[found.group(2)]


def _lint_option(command: argparse.ArgumentParser, default: str) -> None:
    command.formatter_class = _LintHelp
    command.add_argument(
        "--lint",
        type=_lint_rules,
        default=default,
        metavar="RULES",
        help=f"the lint rules to warn about: all, none or a comma-separated list of "
        f"{_LINT_RULES} (default: {default}); warnings never change the exit code",
    )


_LINT_RULES = "<lint rules>"


class _LintHelp(argparse.HelpFormatter):
    """Names the lint rules when help is shown: building the command line does not import
    them (sfidl.check, the whole front end), which a command other than compile and check
    does not need."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if text is None or _LINT_RULES not in text:
            return text
        from sfidl.check.lint import RULE_IDS

        return text.replace(_LINT_RULES, ", ".join(RULE_IDS))


def _lint_rules(chosen: str) -> frozenset[str]:
    from sfidl.check.lint import RULE_IDS

    if chosen == "all":
        return frozenset(RULE_IDS)
    if chosen == "none":
        return frozenset()
    rules = frozenset(r.strip() for r in chosen.split(",") if r.strip())
    unknown = sorted(rules - set(RULE_IDS))
    if unknown or not rules:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or 'no rule'} is not a lint rule; "
            f"use all, none or some of {', '.join(RULE_IDS)}"
        )
    return rules


def _check_endpoint(url: str | None) -> None:
    from sfidl.endpoint import endpoint_problem

    problem = None if url is None else endpoint_problem(url)
    if problem is not None:
        raise UsageError(f"--endpoint {url!r}: {problem}")


def _lsp(args: argparse.Namespace) -> int:
    from sfidl.lsp.server import serve

    serve()
    return 0


def _compile(args: argparse.Namespace) -> int:
    """`compile`, and `check` (the same with ``args.write`` false)."""
    _check_endpoint(args.endpoint)
    if args.watch:
        return _compile_watching(args)
    return _compile_once(args, set())


def _compile_watching(args: argparse.Namespace) -> int:
    """`compile --watch`: compile, then again on every change, until SIGINT or SIGTERM."""
    import signal

    from sfidl.watch import Watcher

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # a clean stop, as for Ctrl-C
    watcher = Watcher()
    try:
        while True:
            read: set[Path] = set(args.files)
            try:
                _compile_once(args, read)
            except CompileError as error:  # reported; the outputs of the last good compile stay
                print(error.render(), file=sys.stderr)
            except UsageError as error:
                print(f"sfidl: error: {error}", file=sys.stderr)
            watcher.watch(read)
            print(f"sfidl: watching {len(watcher.files)} file(s) for changes", file=sys.stderr)
            watcher.wait()
    except KeyboardInterrupt:
        print("sfidl: stopped watching", file=sys.stderr)
        return 0


def _compile_once(args: argparse.Namespace, read: set[Path]) -> int:
    """Compile ``args.files`` (writing unless ``args.write`` is false); adds the files read to ``read``."""
    from sfidl.check.lint import lint
    from sfidl.compiler import Compiled, check_file, compile_file
    from sfidl.outputs import write_outputs

    compiled: list[tuple[Path, Compiled]] = []
    errors: list[CompileError] = []
    for path in args.files:
        try:
            if args.write:
                result = compile_file(path, endpoint=args.endpoint)
            else:  # `check`: the checker holds every rule; no generator, protoc or black runs
                loaded = check_file(path)
                result = Compiled(loaded.program, {}, loaded.warnings, dict(loaded.sources))
        except CompileError as error:
            errors.append(error)
            continue
        found = lint(result.program, result.sources, args.lint)
        warnings = tuple(sorted((*result.warnings, *found), key=lambda d: d.span))
        compiled.append((path, dataclasses.replace(result, warnings=warnings)))
    read.update(Path(name) for result in compiled for name in result[1].sources)
    read.update(Path(name) for error in errors for name in error.sources)
    for _, result in compiled:
        _print_warnings(result.warnings, result.sources)
    if errors:
        raise CompileError(
            [d for e in errors for d in e.diagnostics],
            {k: v for e in errors for k, v in e.sources.items()},
        )
    # Warnings never fail a run; the summary counts them so they are not missed in a log.
    warned = _count_warnings(sum(len(result.warnings) for _, result in compiled))
    if not args.write:
        print(f"sfidl: {len(compiled)} file(s) OK{warned}", file=sys.stderr)
        return 0
    outputs = _merge(compiled)
    try:
        written = write_outputs(args.out, outputs)
    except OSError as error:
        raise UsageError(f"cannot write to {args.out}: {error.strerror or error}") from None
    print(f"sfidl: wrote {len(written)} files to {args.out}{warned}", file=sys.stderr)
    return 0


def _merge(compiled: Sequence[tuple[Path, Compiled]]) -> dict[str, bytes]:
    """The outputs of several files for one folder; shared imports may repeat, nothing else."""
    outputs: dict[str, bytes] = {}
    origin: dict[str, Path] = {}
    for path, result in compiled:
        for name, content in result.files.items():
            if name in outputs and outputs[name] != content:
                raise UsageError(
                    f"{origin[name]} and {path} both produce {name}; "
                    "compile them into different folders"
                )
            outputs[name] = content
            origin[name] = path
    return outputs


def _count_warnings(count: int) -> str:
    """``, 2 warnings`` for a success line; nothing when there is none."""
    return f", {count} warning{'s' if count != 1 else ''}" if count else ""


def _print_warnings(warnings: Sequence[Diagnostic], sources: dict[str, str]) -> None:
    for rendered in render_all(warnings, sources):
        print(rendered, file=sys.stderr)


def _fmt(args: argparse.Namespace) -> int:
    from sfidl.tools.fmt import format_file, write_formatted

    errors: list[CompileError] = []
    changed = 0
    for path in args.files:
        try:
            result = format_file(path)
        except CompileError as error:
            errors.append(error)
            continue
        if not result.changed:
            continue
        changed += 1
        if args.diff:
            sys.stdout.write(result.diff())
        if args.check or args.diff:
            print(f"would reformat {path}", file=sys.stderr)
            continue
        try:
            write_formatted(result)
        except OSError as error:
            raise UsageError(f"cannot write {path}: {error.strerror or error}") from None
        print(f"reformatted {path}", file=sys.stderr)
    if errors:
        raise CompileError(
            [d for e in errors for d in e.diagnostics],
            {k: v for e in errors for k, v in e.sources.items()},
        )
    if args.check and changed:
        print(f"sfidl: {changed} of {len(args.files)} file(s) not formatted", file=sys.stderr)
        return EXIT_ERRORS
    return 0


def _graph(args: argparse.Namespace) -> int:
    from sfidl.frontend import load_program
    from sfidl.tools.graph import build_graph
    from sfidl.tools.graph_render import DotFailed, DotMissing, to_dot, to_mermaid, to_svg

    out: Path | None = args.out
    suffix = "" if out is None else out.suffix.lower()
    if out is not None and suffix not in (".mmd", ".mermaid", ".dot", ".gv", ".svg"):
        raise UsageError(f"-o {out}: the name must end in .mmd, .dot or .svg (the format)")
    graph = build_graph(load_program(args.file).program)
    if out is None:
        sys.stdout.write(to_mermaid(graph))
        return 0
    if suffix == ".svg":
        try:
            content = to_svg(to_dot(graph))
        except DotMissing:
            raise UsageError(
                "writing SVG needs the `dot` program of Graphviz (https://graphviz.org/download/),"
                " which is not installed; write .mmd (Mermaid) or .dot instead"
            ) from None
        except DotFailed as error:
            raise UsageError(f"Graphviz's dot failed: {error}") from None
    else:
        text = to_mermaid(graph) if suffix in (".mmd", ".mermaid") else to_dot(graph)
        content = text.encode("utf-8")
    try:
        out.write_bytes(content)
    except OSError as error:
        raise UsageError(f"cannot write {out}: {error.strerror or error}") from None
    print(f"sfidl: wrote {out}", file=sys.stderr)
    return 0


def _init(args: argparse.Namespace) -> int:
    from sfidl.tools.init import InitError, create_project

    folder = Path(args.name)
    try:
        written = create_project(args.name, folder)
    except InitError as error:
        raise UsageError(str(error)) from None
    print(f"sfidl: created {folder}/ with {len(written)} files; next:", file=sys.stderr)
    print(
        f"  cd {folder} && sfidl compile {args.name}.sfidl -o gen && mypy && pytest",
        file=sys.stderr,
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from sfidl.launch import LaunchError, launch

    _check_endpoint(args.endpoint)
    try:
        return launch(args)
    except LaunchError as error:
        raise UsageError(str(error)) from None


if __name__ == "__main__":
    sys.exit(main())
