"""Command-line experiments whose JSON results the book loads (``python -m wganlib.experiments.<name>``)."""
