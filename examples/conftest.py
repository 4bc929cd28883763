"""Make each example's app module and its generated code (``gen/``) importable in its tests."""

import sys
from pathlib import Path

for example in sorted(p for p in Path(__file__).parent.iterdir() if p.is_dir()):
    for folder in (example, example / "gen"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
