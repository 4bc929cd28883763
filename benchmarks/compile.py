"""How long `sfidl compile` takes, next to protoc alone on the .proto it generates.

For the shop example and the synthetic schema of ``benchmarks/large_schema.py`` at 100,
500 and 2,000 messages, in the same run (median of ``--repeat``, interleaved so load on
the machine hits all alike):

- whole process: ``sfidl compile FILE -o DIR`` against ``python -m grpc_tools.protoc
  --python_out --mypy_out`` (mypy-protobuf as a plugin, as one would run it by hand) on
  the .proto sfidl generated from FILE: wall clock, and CPU seconds (user and system, of
  the process and what it waited for: protoc's plugin), which other work on the machine
  disturbs far less;
- stage by stage, in-process, CPU seconds: parse, check, each output (.proto, protoc +
  mypy-protobuf, stubs: template and layout, then black's share, module.yaml);
- with ``--instructions``, the machine instructions one run of each whole process executes
  (valgrind, children included): a figure other work on the machine does not move.

The sfidl processes share one cache folder (``SFIDL_CACHE_DIR``: compiled templates,
black's output for blocks layout cannot vouch for), filled by a first compile before the
timing, as on a machine that has compiled before; ``--cold`` gives each process a fresh
one instead. The package's bytecode is written first (``compileall``), as installing it
does: in a source tree edited since its ``.pyc`` files were written, under
``PYTHONDONTWRITEBYTECODE``, every process would otherwise compile the edited modules again.

    python benchmarks/compile.py [--repeat 5] [--sizes 100,500,2000] [--cold] [--instructions]
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.large_schema import function_count, large_schema  # noqa: E402

EXAMPLE = ROOT / "examples" / "shop" / "shop.sfidl"
T = TypeVar("T")


Timing = tuple[float, float]  # wall clock and CPU seconds


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> Timing:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def instructions(command: list[str], cwd: Path, env: dict[str, str]) -> int:
    """The machine instructions ``command`` runs, its children included (valgrind's count:
    slow, but the same however busy the machine is)."""
    counting = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes"]
    counting.append("--cachegrind-out-file=/dev/null")
    done = subprocess.run(
        counting + command, cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    found = re.findall(r"I\s+refs:\s+([\d,]+)", done.stderr)
    return sum(int(count.replace(",", "")) for count in found)


def whole_process(
    source: Path, work: Path, repeat: int, cold: bool, count: bool
) -> tuple[list[Timing], list[Timing], tuple[int, int] | None]:
    """Seconds of `sfidl compile` and of protoc with mypy-protobuf, ``repeat`` each, and
    with ``count`` the instructions each runs once (after the timing)."""
    python = sys.executable
    ref = work / "ref"
    subprocess.run(
        [python, "-m", "sfidl", "compile", str(source), "-o", str(ref)],
        env={**os.environ, "SFIDL_CACHE_DIR": str(work / "cache")},
        check=True,
        capture_output=True,
    )
    (work / "p").mkdir()
    proto = source.name.removesuffix(".sfidl") + ".proto"
    plugin = Path(python).parent / "protoc-gen-mypy"
    protoc = [python, "-m", "grpc_tools.protoc", "-I", "ref"]
    protoc += [f"--plugin=protoc-gen-mypy={plugin}", "--python_out=p", "--mypy_out=p", proto]
    sfidl_times: list[Timing] = []
    protoc_times: list[Timing] = []
    for i in range(repeat):
        env = dict(os.environ)
        env["SFIDL_CACHE_DIR"] = str(work / (f"cache{i}" if cold else "cache"))
        out = work / f"out{i}"
        sfidl = [python, "-m", "sfidl", "compile", str(source), "-o", str(out)]
        sfidl_times.append(timed(sfidl, work, env))
        protoc_times.append(timed(protoc, work, env))
    counted = None
    if count:
        env = {**os.environ, "SFIDL_CACHE_DIR": str(work / "cache")}
        sfidl = [python, "-m", "sfidl", "compile", str(source), "-o", str(work / "counted")]
        counted = instructions(sfidl, work, env), instructions(protoc, work, env)
    return sfidl_times, protoc_times, counted


def stages(source: Path, repeat: int) -> dict[str, float]:
    """Median CPU seconds of each stage of one compile, in this process (imports excluded)."""
    from sfidl.compiler import _few_collections
    from sfidl.frontend import load_program
    from sfidl.gen import python_format
    from sfidl.gen.module_yaml import render_module_yaml, render_playground_module_yaml
    from sfidl.gen.proto import render_proto
    from sfidl.gen.protoc import compile_protos
    from sfidl.gen.stubs import render_stubs
    from sfidl.parse import parse

    text = source.read_text(encoding="utf-8")
    samples: dict[str, list[float]] = {}

    def stage(name: str, run: Callable[[], T]) -> T:
        with _few_collections():  # as compile_file runs every stage
            start = time.process_time()
            result = run()
            samples.setdefault(name, []).append(time.process_time() - start)
        return result

    for i in range(repeat):
        # Black's share counts as a first compile's: no block remembered, in memory or on disk.
        python_format._formatted.clear()
        os.environ["SFIDL_CACHE_DIR"] = tempfile.mkdtemp(prefix="sfidl-bench-cache-")
        stage("parse", lambda: parse(text, str(source)))
        program = stage("front end (parse + check)", lambda: load_program(source)).program
        protos = stage("proto", lambda: {f.proto_file: render_proto(f) for f in program.files})
        stage("protoc + mypy-protobuf", lambda: compile_protos(protos))
        black_before = _black_total[0]
        stage("stubs (template, layout, black)", lambda: render_stubs(program))
        samples.setdefault("of which black", []).append(_black_total[0] - black_before)
        stage(
            "module.yaml",
            lambda: (render_module_yaml(program), render_playground_module_yaml(program)),
        )
    return {name: statistics.median(values) for name, values in samples.items()}


def _medians(timings: list[Timing]) -> Timing:
    return (
        statistics.median(t[0] for t in timings),
        statistics.median(t[1] for t in timings),
    )


_black_total = [0.0]  # seconds spent in black so far, in this process


def _count_black() -> None:
    """Time every call to black (the blocks layout could not vouch for)."""
    from sfidl.gen import python_format

    original = python_format._black

    def counted(block: str) -> str:
        start = time.process_time()
        try:
            return original(block)
        finally:
            _black_total[0] += time.process_time() - start

    python_format._black = counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="100,500,2000")
    parser.add_argument("--cold", action="store_true", help="a fresh cache for every run")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions too (needs valgrind)"
    )
    args = parser.parse_args()
    _count_black()
    compileall.compile_dir(ROOT / "sfidl", quiet=1)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows: list[tuple[str, Timing, Timing, dict[str, float]]] = []
    counts: list[tuple[str, tuple[int, int]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = [EXAMPLE]
        for size in sizes:
            path = Path(tmp, f"large{size}.sfidl")
            path.write_text(large_schema(size), encoding="utf-8")
            inputs.append(path)
        for source in inputs:
            work = Path(tmp, source.stem)
            work.mkdir()
            sfidl_times, protoc_times, counted = whole_process(
                source, work, args.repeat, args.cold, args.instructions
            )
            name = (
                "shop.sfidl"
                if source == EXAMPLE
                else f"{source.stem.removeprefix('large')} messages / "
                f"{function_count(int(source.stem.removeprefix('large')))} functions"
            )
            rows.append(
                (name, _medians(sfidl_times), _medians(protoc_times), stages(source, args.repeat))
            )
            if counted is not None:
                counts.append((name, counted))
    cache = "a fresh cache each run" if args.cold else "the cache filled by a first compile"
    print(f"Whole process, median of {args.repeat}, {cache}:\n")
    print(
        "| input | `sfidl compile` | `protoc --python_out --mypy_out` | ratio"
        " | CPU: sfidl | CPU: protoc | CPU ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (wall, cpu), (ref_wall, ref_cpu), _ in rows:
        print(
            f"| {name} | {wall:.2f} s | {ref_wall:.2f} s | {wall / ref_wall:.2f}× "
            f"| {cpu:.2f} s | {ref_cpu:.2f} s | {cpu / ref_cpu:.2f}× |"
        )
    if counts:
        print("\nInstructions, one run each (valgrind), children included:\n")
        print("| input | `sfidl compile` | `protoc --python_out --mypy_out` | ratio |")
        print("|---|---:|---:|---:|")
        for name, (mine, theirs) in counts:
            print(
                f"| {name} | {mine / 1e6:,.0f} M | {theirs / 1e6:,.0f} M | {mine / theirs:.2f}× |"
            )
    names = list(rows[0][3])
    print("\nStages in one process (CPU seconds, median):\n")
    print("| input | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for name, _, _, measured in rows:
        print(f"| {name} | " + " | ".join(f"{measured[n]:.3f}" for n in names) + " |")


if __name__ == "__main__":
    main()
