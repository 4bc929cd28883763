"""``python -m sfidl``: the same as the ``sfidl`` command."""

import sys

from sfidl.cli import main

sys.exit(main())
