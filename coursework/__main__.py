"""``python -m coursework``: see :mod:`coursework.cli`."""

from __future__ import annotations

import sys

from coursework.cli import main

sys.exit(main())
