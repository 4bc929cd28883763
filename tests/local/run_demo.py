"""``python -m tests.local.run_demo DB INGRESS_FILE EGRESS_DIR``: the demo app on the local runtime until idle."""

from __future__ import annotations

import sys
from pathlib import Path

from sfidl.local.run import RunOptions, run
from tests.local.apps import demo_app

if __name__ == "__main__":
    db, ingress_file, egress_dir = map(Path, sys.argv[1:4])
    options = RunOptions(
        db=db,
        port=None,
        egress_port=None,
        ingress_files=(ingress_file,),
        egress_dir=egress_dir,
        egress_stdout=False,
        stop_when_idle=True,
        status_interval_s=0.5,
    )
    run(demo_app(), options)
