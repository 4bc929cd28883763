"""How the cost of reporting errors grows with their number: ``sfidl check``'s front end on
files of N unknown types among N messages, and the same N errors spread over a file with
long lines (about 87 bytes a line), loaded and rendered in-process.

Linear reporting doubles the time when N doubles; before issue 9 it quadrupled (every
diagnostic split its whole file into lines, every unknown name was compared with every
declaration for a hint): 1,000 errors took 20 s, 2,000 took 80 s, 4,000 took 514 s.
The figures are ratios to the smallest N, so a busy machine moves them little.

    python benchmarks/many_errors.py [--sizes 500,1000,2000,4000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sfidl.diagnostics import CompileError
from sfidl.frontend import load_program


def _unknown_types(count: int) -> str:
    return "namespace a;\n" + "".join(
        f"message M{i} {{ Unknwn{i} x = 1; }}\n" for i in range(count)
    )


def _long_lines(count: int) -> str:
    return "namespace a;\n" + "".join(
        f"message Big{i} {{ Nope{i} field_with_a_rather_long_name_{i} = 1; string ok_{i} = 2; }}\n"
        for i in range(count)
    )


def _seconds(path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            load_program(path)
        except CompileError as error:
            error.render()
        else:
            raise AssertionError(f"{path} has no errors")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,1000,2000,4000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        for name, make in (("unknown types", _unknown_types), ("long lines", _long_lines)):
            print(f"{name}:")
            first: float | None = None
            for size in sizes:
                path = Path(folder) / f"errors_{size}.sfidl"
                path.write_text(make(size), encoding="utf-8")
                seconds = _seconds(path, args.repeat)
                first = first or seconds
                print(
                    f"  {size:>6} errors  {seconds:7.2f} s  {seconds / first:5.1f}x "
                    f"(linear: {size / sizes[0]:.1f}x)"
                )


if __name__ == "__main__":
    main()
