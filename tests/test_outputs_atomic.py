"""A compile writes its outputs as a set: killed at any moment, the folder holds the old set or
the new one, and the next write leaves no temporary file behind.

Three kinds of proof, all with real SIGKILLs:

- the real ``sfidl compile`` killed at seeded random moments around its write phase, over a
  folder holding the outputs of another version of the program (other files, other names);
- the writer killed before each of its file-system steps in turn, then finished by the next
  write (and the next write killed in its recovery in turn);
- interrupted writes left on disk at named points, finished or rolled back by the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sfidl.outputs import STATE, recover, write_outputs

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
CLEAN_STATE = [".gitignore", "manifest.json"]

# Two versions of one program: v1 imports common.sfidl (three more files), v2 renames everything.
COMMON_V1 = "namespace common;\n\nmessage Stamp {\n  int64 at_millis = 1;\n}\n"
PROGRAM_V1 = """namespace com.example.atomic;
import "common.sfidl";

message Greet {
  string name = 1;
  common.Stamp stamp = 2;
}

message Greeting {
  string text = 1;
}

function Greeter {
  state seen: int32 = 0;
  on greet(Greet) emits greetings;
}

ingress names: kafka topic "names" of Greet -> Greeter.greet;
egress greetings: kafka topic "greetings" of Greeting;
"""
PROGRAM_V2 = """namespace com.example.atomic;

message Welcome {
  string name = 1;
  string locale = 2;
}

message Welcomed {
  string text = 1;
  int32 visits = 2;
}

function Host {
  state visits: int32 = 0;
  on welcome(Welcome) emits welcomed;
}

ingress arrivals: kafka topic "arrivals" of Welcome -> Host.welcome;
egress welcomed: kafka topic "welcomed" of Welcomed;
"""

Files = dict[str, bytes]


def visible(folder: Path) -> Files:
    """The files a reader of ``folder`` sees: everything but sfidl's own record."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != STATE}


def bookkeeping(folder: Path) -> list[str]:
    return sorted(os.listdir(folder / STATE))


def compile_cli(source: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sfidl", "compile", str(source), "-o", str(out)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def imports(folder: Path) -> subprocess.CompletedProcess[str]:
    """Import the stubs (and through them the _pb2 modules) in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-B", "-c", "import prog_sfidl"],
        cwd=folder,
        env={**ENV, "PYTHONPATH": f"{folder}{os.pathsep}{REPO}"},
        capture_output=True,
        text=True,
        timeout=60,
    )


_IMPORTABLE: set[str] = set()  # digests of folders already imported successfully
_IMPORTABLE_LOCK = threading.Lock()


def assert_imports(folder: Path) -> None:
    """``folder`` imports; a folder byte-identical to one that did is not imported again."""
    digest = hashlib.sha256(repr(sorted(visible(folder).items())).encode()).hexdigest()
    with _IMPORTABLE_LOCK:
        if digest in _IMPORTABLE:
            return
    result = imports(folder)
    assert result.returncode == 0, result.stderr
    with _IMPORTABLE_LOCK:
        _IMPORTABLE.add(digest)


@dataclass(frozen=True)
class Program:
    """The two versions' sources and the exact sets a complete compile of each writes."""

    sources: dict[str, Path]
    sets: dict[str, Files]


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Program:
    root = tmp_path_factory.mktemp("atomic")
    (root / "v1").mkdir()
    (root / "v2").mkdir()
    (root / "v1" / "common.sfidl").write_text(COMMON_V1)
    (root / "v1" / "prog.sfidl").write_text(PROGRAM_V1)
    (root / "v2" / "prog.sfidl").write_text(PROGRAM_V2)
    sources = {version: root / version / "prog.sfidl" for version in ("v1", "v2")}
    sets = {}
    for version, source in sources.items():
        out = root / f"out_{version}"
        process = compile_cli(source, out)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        assert_imports(out)
        sets[version] = visible(out)
    assert set(sets["v1"]) - set(sets["v2"]) == {"common.proto", "common_pb2.py", "common_pb2.pyi"}
    for name in set(sets["v1"]) & set(sets["v2"]):
        assert sets["v1"][name] != sets["v2"][name], name
    return Program(sources, sets)


# -- the real command, killed at random moments ------------------------------------

SEED = 8
LANES = 3  # output folders killed in parallel, to keep the test short
TRIALS_PER_LANE = 8
OTHER = {"v1": "v2", "v2": "v1"}


@dataclass
class Lane:
    """What the kills of one output folder found."""

    outcomes: list[str] = field(default_factory=list)


def write_phase_seconds(program: Program, scratch: Path) -> float:
    """How long writing one set over the other takes here (median of a few)."""
    write_outputs(scratch, program.sets["v1"])
    durations = []
    for version in ("v2", "v1") * 3:
        start = time.perf_counter()
        write_outputs(scratch, program.sets[version])
        durations.append(time.perf_counter() - start)
    return sorted(durations)[len(durations) // 2]


def kill_lane(program: Program, out: Path, rng: random.Random, window: float) -> Lane:
    """Compile the other version over ``out`` again and again, each killed at a random moment."""
    lane = Lane()
    write_outputs(out, program.sets["v1"])
    current = "v1"
    for _ in range(TRIALS_PER_LANE):
        before, target = current, OTHER[current]
        listing = bookkeeping(out)
        process = compile_cli(program.sources[target], out)
        try:
            # The write phase starts with the first change under .sfidl-outputs (the previous
            # kill's leftovers removed, or a staging folder created); kill somewhere in it.
            deadline = time.monotonic() + 120
            while bookkeeping(out) == listing and process.poll() is None:
                assert time.monotonic() < deadline, "the compile never started writing"
                time.sleep(0.001)
            time.sleep(rng.uniform(0, window))
        finally:
            process.send_signal(signal.SIGKILL)
            _, err = process.communicate(timeout=60)
        assert process.returncode in (0, -signal.SIGKILL), err.decode()

        now, leftovers = visible(out), [n for n in bookkeeping(out) if n not in CLEAN_STATE]
        if process.returncode == 0:
            # It finished over what the previous kill left: nothing of that survives.
            assert (now, leftovers) == (program.sets[target], [])
            current, outcome = target, "finished"
        elif "switch" in leftovers:
            # Killed while moving a committed set in: every file is one set's, and the
            # recovery every write starts with completes the new set.
            for name, content in now.items():
                assert content in (program.sets[before].get(name), program.sets[target].get(name))
            recover(out)
            assert (visible(out), bookkeeping(out)) == (program.sets[target], CLEAN_STATE)
            current, outcome = target, "moving"
        else:
            assert now in (program.sets[before], program.sets[target]), sorted(now)
            current = before if now == program.sets[before] else target
            outcome = ("old" if current == before else "new") + (" + staging" if leftovers else "")
        lane.outcomes.append(outcome)
        assert_imports(out)

    # A compile that is not killed leaves no temporary file of the last kill.
    process = compile_cli(program.sources[OTHER[current]], out)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    assert (visible(out), bookkeeping(out)) == (program.sets[OTHER[current]], CLEAN_STATE)
    return lane


def test_compile_killed_at_random_moments_leaves_the_old_or_the_new_set(
    program: Program, tmp_path: Path
) -> None:
    window = 2 * write_phase_seconds(program, tmp_path / "scratch")
    with ThreadPoolExecutor(LANES) as pool:
        lanes = list(
            pool.map(
                lambda i: kill_lane(
                    program, tmp_path / f"lane{i}", random.Random(SEED + i), window
                ),
                range(LANES),
            )
        )
    outcomes = [outcome for lane in lanes for outcome in lane.outcomes]
    # Not a timing assertion: without kills inside the write phase this test proves nothing.
    mid_write = [o for o in outcomes if o.endswith("staging") or o == "moving"]
    assert mid_write, f"no kill landed while the compile was writing: {outcomes}"


# -- the writer, killed before each of its steps ------------------------------------

OLD: Files = {"a_pb2.py": b"old a", "shared.yaml": b"old shared", "gone.txt": b"only in old"}
NEW: Files = {"a_pb2.py": b"new a", "shared.yaml": b"new shared", "added.txt": b"only in new"}

# Runs write_outputs (or recover) and SIGKILLs itself just before its file-system step
# number argv[3]: every mkdir, rename, replace, unlink, rmdir and fsync counts as a step.
# With step -1 it runs to the end and prints each step (function, file name) instead.
KILLED_AT_STEP = """
import json, os, signal, sys
from pathlib import Path
from sfidl.outputs import recover, write_outputs

mode, folder, kill_at = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
steps = []

def counted(function):
    def step(*args, **kwargs):
        if len(steps) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        steps.append((function.__name__, os.path.basename(str(args[0]))))
        return function(*args, **kwargs)
    return step

for name in ("mkdir", "rename", "replace", "unlink", "rmdir", "fsync"):
    setattr(os, name, counted(getattr(os, name)))
if mode == "write":
    files = {k: v.encode("latin-1") for k, v in json.loads(sys.argv[4]).items()}
    write_outputs(folder, files)
else:
    recover(folder)
print(json.dumps(steps))
"""


def run_killed_at(
    mode: str, folder: Path, step: int, files: Files | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the writer (or the recovery) in a child that SIGKILLs itself before ``step``."""
    argv = [mode, str(folder), str(step)]
    if files is not None:
        argv.append(json.dumps({k: v.decode("latin-1") for k, v in files.items()}))
    result = subprocess.run(
        [sys.executable, "-c", KILLED_AT_STEP, *argv],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (0, -signal.SIGKILL), result.stderr
    return result


def killed_at_step(mode: str, folder: Path, step: int, files: Files | None = None) -> bool:
    """True if the child was killed (False: it finished before reaching ``step``)."""
    return run_killed_at(mode, folder, step, files).returncode == -signal.SIGKILL


def writer_steps(tmp_path: Path, old: Files, new: Files) -> list[tuple[str, str]]:
    """Every step of writing ``new`` over ``old``, in order: (function, file name)."""
    folder = tmp_path / "trace"
    write_outputs(folder, old)
    steps: list[list[str]] = json.loads(run_killed_at("write", folder, -1, new).stdout)
    shutil.rmtree(folder)
    return [(function, name) for function, name in steps]


def step_after_commit(tmp_path: Path, old: Files = OLD, new: Files = NEW) -> int:
    """The first step at which a kill writing ``new`` over ``old`` leaves a committed switch."""
    for i, (function, name) in enumerate(writer_steps(tmp_path, old, new)):
        if function == "rename" and name.startswith("staging-"):
            return i + 1
    raise AssertionError("the writer never committed")


def assert_one_set_or_moving(folder: Path) -> bool:
    """The folder holds OLD or NEW, or (only with a committed switch) files of both; True if moving."""
    now = visible(folder)
    if "switch" not in bookkeeping(folder):
        assert now in (OLD, NEW), now
        return False
    assert set(now) <= set(OLD) | set(NEW)
    for name, content in now.items():
        assert content in (OLD.get(name), NEW.get(name)), name
    return True


def assert_clean(folder: Path, expected: Files) -> None:
    assert visible(folder) == expected
    assert bookkeeping(folder) == CLEAN_STATE
    manifest = json.loads((folder / STATE / "manifest.json").read_text())
    assert manifest.keys() <= {"files", "made_from"}  # made_from: what `sfidl run` compiled
    assert manifest["files"] == {k: hashlib.sha256(v).hexdigest() for k, v in expected.items()}


def test_writer_killed_before_each_step_is_finished_or_rolled_back(tmp_path: Path) -> None:
    seen = {"rolled back": 0, "a mix, finished": 0, "finished": 0}
    for step in range(200):
        folder = tmp_path / f"step{step}"
        write_outputs(folder, OLD)
        if not killed_at_step("write", folder, step, NEW):
            break
        now = visible(folder)
        committed = assert_one_set_or_moving(folder) or now == NEW
        seen["finished" if now == NEW else "a mix, finished" if committed else "rolled back"] += 1
        recover(folder)
        assert_clean(folder, NEW if committed else OLD)
        # The manifest matches what is there: the next set drops exactly the right files.
        write_outputs(folder, OLD)
        assert_clean(folder, OLD)
    else:
        pytest.fail("the writer never finished")
    assert all(seen.values()), seen  # kills landed before the commit, mid-move and after


def test_recovery_killed_before_each_step_is_finished_by_the_next(tmp_path: Path) -> None:
    committed = tmp_path / "committed"
    write_outputs(committed, OLD)
    # Killed just after the commit: the whole new set is waiting in the switch.
    assert killed_at_step("write", committed, step_after_commit(tmp_path), NEW)
    assert visible(committed) == OLD and "switch" in bookkeeping(committed)
    for step in range(100):
        folder = tmp_path / f"step{step}"
        shutil.copytree(committed, folder)
        if not killed_at_step("recover", folder, step):
            break
        assert_one_set_or_moving(folder)
        recover(folder)
        assert_clean(folder, NEW)
    else:
        pytest.fail("recovery never finished")


# -- the next run over an interrupted write ------------------------------------------


def test_the_next_compile_finishes_an_interrupted_switch(program: Program, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(out, program.sets["v1"])
    # Killed after moving four files in (sorted: the yaml files, prog.proto, prog_pb2.py):
    # new _pb2 beside old stubs, the mix that failed to import in issue 8.
    step = step_after_commit(tmp_path, program.sets["v1"], program.sets["v2"]) + 1 + 4
    assert killed_at_step("write", out, step, program.sets["v2"])
    assert visible(out) not in (program.sets["v1"], program.sets["v2"])
    assert imports(out).returncode != 0  # what the next run must not leave
    process = compile_cli(program.sources["v2"], out)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    assert_clean_set(out, program.sets["v2"])
    assert imports(out).returncode == 0


def test_the_next_compile_discards_an_uncommitted_staging(program: Program, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(out, program.sets["v1"])
    step = step_after_commit(tmp_path, program.sets["v1"], program.sets["v2"]) - 1
    assert killed_at_step("write", out, step, program.sets["v2"])
    assert visible(out) == program.sets["v1"]
    assert [n for n in bookkeeping(out) if n.startswith("staging-")]
    process = compile_cli(program.sources["v1"], out)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    assert_clean_set(out, program.sets["v1"])


def assert_clean_set(folder: Path, expected: Files) -> None:
    assert visible(folder) == expected
    assert bookkeeping(folder) == CLEAN_STATE


# -- what the writer removes, keeps and creates --------------------------------------


def test_a_dropped_file_someone_changed_is_kept(tmp_path: Path) -> None:
    write_outputs(tmp_path, OLD)
    (tmp_path / "gone.txt").write_bytes(b"edited by hand")
    (tmp_path / "mine.txt").write_bytes(b"never generated")
    write_outputs(tmp_path, NEW)
    assert visible(tmp_path) == {
        **NEW,
        "gone.txt": b"edited by hand",
        "mine.txt": b"never generated",
    }


def test_without_a_readable_manifest_nothing_is_deleted(tmp_path: Path) -> None:
    write_outputs(tmp_path, OLD)
    (tmp_path / STATE / "manifest.json").write_text('{"files": ["../../etc"]}')
    write_outputs(tmp_path, NEW)
    assert visible(tmp_path) == {**NEW, "gone.txt": OLD["gone.txt"]}
    write_outputs(tmp_path, OLD)  # now the record is back, so is the exact set
    assert_clean(tmp_path, OLD)


def test_temporary_files_of_earlier_sfidl_versions_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".a_pb2.py.x8k2_q.tmp").write_bytes(b"half")
    (tmp_path / ".notes.tmp").write_bytes(b"not ours")
    write_outputs(tmp_path, NEW)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".notes.tmp",
        STATE,
        "a_pb2.py",
        "added.txt",
        "shared.yaml",
    ]


def test_file_modes_follow_the_umask(tmp_path: Path) -> None:
    code = "import sys; from pathlib import Path; from sfidl.outputs import write_outputs; "
    code += "write_outputs(Path(sys.argv[1]), {'a_pb2.py': b'x'})"
    for umask, mode in ((0o027, 0o640), (0o022, 0o644), (0o002, 0o664)):
        folder = tmp_path / oct(umask)
        result = subprocess.run(
            [sys.executable, "-c", code, str(folder)],
            env=ENV,
            umask=umask,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE((folder / "a_pb2.py").stat().st_mode) == mode


def test_concurrent_writers_leave_one_whole_set(tmp_path: Path) -> None:
    write_outputs(tmp_path, OLD)
    start = threading.Barrier(4)

    def writer(i: int) -> None:
        start.wait(timeout=30)
        for _ in range(3):
            write_outputs(tmp_path, OLD if i % 2 else NEW)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(writer, range(4)))
    assert visible(tmp_path) in (OLD, NEW)
    assert_clean(tmp_path, visible(tmp_path))


@pytest.mark.parametrize("name", ["", ".", "..", "sub/x.py", "../x.py", STATE, "a\\b"])
def test_names_other_than_plain_file_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="not a plain file name"):
        write_outputs(tmp_path, {name: b"x"})
    assert list(tmp_path.iterdir()) == []


def test_sfidl_run_finishes_an_interrupted_switch_before_importing(
    program: Program, tmp_path: Path
) -> None:
    greeter = REPO / "examples" / "greeter"
    gen = tmp_path / "gen"
    write_outputs(gen, program.sets["v2"])
    committed = {p.name: p.read_bytes() for p in (greeter / "gen").iterdir() if p.is_file()}
    step = step_after_commit(tmp_path, program.sets["v2"], committed) + 1 + 3
    assert killed_at_step("write", gen, step, committed)
    assert "switch" in bookkeeping(gen) and "prog_sfidl.py" in visible(gen)
    result = subprocess.run(
        [sys.executable, "-m", "sfidl", "run", str(greeter / "greeter.sfidl"), "--app",
         "greeter_app", "-o", str(gen), "--db", str(tmp_path / "db.sqlite"), "--port", "0",
         "--stop-when-idle", "--no-stdout"],
        cwd=tmp_path,
        env={**ENV, "PYTHONPATH": f"{greeter}{os.pathsep}{REPO}"},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(visible(gen)) == sorted(committed)  # v2's prog_* files are gone
    assert_clean(gen, visible(gen))
