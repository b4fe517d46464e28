"""``python -m wganlib``: see :mod:`wganlib.cli`."""

from __future__ import annotations

import sys

from wganlib.cli import main

if __name__ == "__main__":
    sys.exit(main())
