# Every target creates or refreshes .venv itself: on a fresh machine `make demo` and
# `make test` are all you type.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint typecheck docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# reinstall when the project's dependencies change
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/whylens demo --dir demo-output

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# the site in site/; --strict turns broken links, missing references and docstring warnings
# into errors
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

lint: $(STAMP)
	$(BIN)/ruff check sdk tests benchmarks examples
	$(BIN)/mypy sdk

clean:
	rm -rf demo-output site .pytest_cache .mypy_cache .ruff_cache
