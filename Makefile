# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test bench lint soak

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Generate the demo company on SQLite and run the server, ready to log into.
demo: $(VENV)/.installed
	$(BIN)/satchel demo

# The whole test suite, on SQLite and PostgreSQL, on every core.
test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -n auto

# Benchmarks; results go to bench/RESULTS.md.
bench: $(VENV)/.installed
	$(BIN)/python -m bench

# Thousands of sync convergence histories (the test run tries 40 a day per database).
soak: $(VENV)/.installed
	PYTHONPATH=. $(BIN)/python -m tests.sync.convergence --histories 5000
