"""Autograded coursework for "WGAN, the book": build, grade (sandboxed), measure.

``python -m coursework build`` turns the MyST masters in ``coursework/masters`` into student
notebooks (otter-grader's ``otter assign``); ``python -m coursework grade SUBMISSIONS --out
scores.csv`` runs each submission in a bubblewrap sandbox (:mod:`coursework.sandbox`,
:mod:`coursework.worker`) and checks its answers outside it against the graded cases of
:mod:`coursework.cases` (:mod:`coursework.grading`), into one table and one feedback file per
notebook (:mod:`coursework.gradebook`); see :mod:`coursework.cli`.
"""

from __future__ import annotations

from coursework.cli import build, grade, main, measure

__all__ = ["build", "grade", "main", "measure"]
