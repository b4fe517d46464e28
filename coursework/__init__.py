"""Autograded coursework for "WGAN, the book" (otter-grader): build, grade, measure.

``python -m coursework build`` turns the MyST masters in ``coursework/masters`` into student
notebooks and autograder archives; ``python -m coursework grade SUBMISSIONS --out scores.csv``
grades a folder of submitted notebooks into one table; see :mod:`coursework.cli`.
"""

from __future__ import annotations

from coursework.cli import build, grade, main, measure

__all__ = ["build", "grade", "main", "measure"]
