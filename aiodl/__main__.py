"""``python -m aiodl``: the same as the ``aiodl`` command."""

import sys

from ._cli.command import main

sys.exit(main())
