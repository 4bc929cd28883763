"""How long `sfidl compile` takes, next to protoc alone on the .proto it generates.

Both are whole processes, timed the same way in the same run (median of several):

- ``sfidl compile examples/shop/shop.sfidl`` (parse, check, .proto, protoc + mypy-protobuf,
  stubs + black, module.yaml, atomic writes);
- ``python -m grpc_tools.protoc --python_out`` on the generated shop.proto;
- the same protoc with mypy-protobuf's ``--mypy_out`` as sfidl runs it.

    python benchmarks/compile.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "shop" / "shop.sfidl"


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    python = sys.executable
    plugin = Path(python).parent / "protoc-gen-mypy"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(
            [python, "-m", "sfidl", "compile", str(EXAMPLE), "-o", str(work / "ref")], check=True
        )
        commands = {
            "sfidl compile shop.sfidl": [
                python,
                "-m",
                "sfidl",
                "compile",
                str(EXAMPLE),
                "-o",
                str(work / "out"),
            ],
            "protoc --python_out": [
                python,
                "-m",
                "grpc_tools.protoc",
                "-I",
                "ref",
                "--python_out=p",
                "shop.proto",
            ],
            "protoc --python_out --mypy_out": [
                python,
                "-m",
                "grpc_tools.protoc",
                "-I",
                "ref",
                f"--plugin=protoc-gen-mypy={plugin}",
                "--python_out=p",
                "--mypy_out=p",
                "shop.proto",
            ],
        }
        (work / "p").mkdir()
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):  # interleaved, so load on the machine hits all alike
            for name, command in commands.items():
                samples[name].append(timed(command, work))
    reference = statistics.median(samples["protoc --python_out"])
    print(f"| command (whole process, median of {args.repeat}) | seconds | × protoc |")
    print("|---|---:|---:|")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {median / reference:.1f} |")


if __name__ == "__main__":
    main()
