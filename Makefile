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

.PHONY: book test env lint bench clean gpu-wheels gpu-check

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

# The GPU check (python -m wganlib.experiments.gpu_check; docs in its module docstring).
# The GPU machine has Python 3.12 and torch but no package index: 'make gpu-wheels', run where
# pip reaches one, downloads the wheels it lacks (POT, lmdb, ipywidgets and their dependencies
# that it does not have) into the ignored folder .whl/; 'make gpu-check' there installs them with
# pip --no-index into a temporary folder and runs the check (COMMIT=<sha> where .git is absent).
GPU_WHEELS := POT==0.9.7.post1 lmdb==3.0.0 ipywidgets==8.1.9 comm==0.2.3 traitlets==5.16.1 \
  widgetsnbextension==4.0.16 jupyterlab_widgets==3.0.17 ipython==9.18.1 \
  ipython_pygments_lexers==1.1.1 jedi==0.20.1 parso==0.8.7 prompt_toolkit==3.0.53 \
  wcwidth==0.9.4 pexpect==4.9.0 ptyprocess==0.7.0 stack-data==0.6.3 executing==2.3.0 \
  asttokens==3.0.2 pure_eval==0.2.4 matplotlib-inline==0.2.2 decorator==5.2.1
GPU_PLATFORMS := $(foreach p,manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
  manylinux2014_x86_64 manylinux1_x86_64,--platform $(p))

gpu-wheels:
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp $(GPU_PLATFORMS) -d .whl $(GPU_WHEELS)

gpu-check:
	$(PYTHON) -m wganlib.experiments.gpu_check --wheels .whl $(if $(COMMIT),--commit $(COMMIT))
