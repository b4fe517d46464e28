"""Plotting helpers for the book: the only wganlib module that imports matplotlib.

Every function takes ``ax=None`` (a new figure is made when it is None) and returns the axes,
so that chapters compose figures without global plotting state.
"""

from __future__ import annotations

import matplotlib.pyplot as plt


def _axes(ax=None, figsize=(4.0, 4.0)):
    """Return ``ax`` or a fresh axes of the given size."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax
