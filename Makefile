# The README's set-up commands: `make quickstart` (the main job) and `make test` (linter, documentation build and
# test suite). Both build .venv first: torch before the package, so pip never swaps in another torch build.
# The suite runs on two workers of one thread each: it is mostly short processes and tiny models, which two cores
# run faster side by side than one at a time with two threads (tests/conftest.py groups what must not overlap).
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin
export NO_MKDOCS_2_WARNING := 1

$(VENV)/.installed: setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install "$(TORCH)"
	$(BIN)/python -m pip install -e ".[test]" -c constraints.txt
	touch $@

quickstart: $(VENV)/.installed
	$(BIN)/python -m specformers.quickstart --output_dir quickstart_output

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mkdocs build --strict --quiet
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadgroup tests

docs: $(VENV)/.installed
	$(BIN)/mkdocs build --strict

docs-serve: $(VENV)/.installed
	$(BIN)/mkdocs serve

benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_feature_extraction.py --repeats 15
	$(BIN)/python benchmarks/bench_ast_forward.py

.PHONY: quickstart test docs docs-serve benchmark
