"""wganlib: the library behind "WGAN, the book".

Importing this package has no side effects: nothing is seeded, no backend flag is set and
matplotlib is not imported (only :mod:`wganlib.plotting` imports it).
"""

from __future__ import annotations

__version__ = "0.1.0"
