# The two commands of the README:
#   make book   -> builds the HTML book into _build/html (sets up .venv on first use)
#   make test   -> builds the book if needed, then runs the whole test suite
# Everything else here is what those two need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch; the same pin installs normally from the package index elsewhere.
TORCH  := torch==2.13.0

.PHONY: book test env lint bench clean

book: $(STAMP)
	$(BIN)/jupyter-book build --warningiserror --keep-going .

test: book chromium bubblewrap
	$(BIN)/ruff check wganlib tests benchmarks coursework
	$(BIN)/python -m pytest -q

env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[book,test,images]'
	touch $@

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium package for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

# Debian's bubblewrap: the coursework grader runs every submission in a bwrap sandbox.
.PHONY: bubblewrap
bubblewrap:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "Installing Debian's bubblewrap package for the coursework grader's sandbox"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q bubblewrap; }

lint: $(STAMP)
	$(BIN)/ruff check wganlib tests benchmarks coursework
	$(BIN)/ruff format --check wganlib tests benchmarks coursework

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_trainer.py

clean:
	rm -rf _build

# Coursework: student notebooks + autograder archives (coursework/_build), and the student
# edition of the book (the same HTML without exercise solutions, in _build/student/_build/html).
.PHONY: coursework student-book
coursework: $(STAMP) bubblewrap
	$(BIN)/python -m coursework build --jobs 2

student-book: $(STAMP)
	$(BIN)/python -m coursework.student_book --out _build/student
