# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test bench lint soak lock

# Python keeps the bytecode it compiles (some machines switch that off in the environment): the test
# run starts dozens of servers and commands, each compiling Satchel's ~200 modules again without it,
# and every pytest worker rewrites the test modules' assertions on every run.
unexport PYTHONDONTWRITEBYTECODE

# Installs come from the lock (exact versions, tested together); pyproject.toml keeps the lower bounds.
# After changing dependencies: make lock.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Re-resolve requirements.lock from pyproject.toml (needs uv: pip install uv). SQLCipher's newest
# wheels skip manylinux x86_64, hence the override.
lock:
	echo "sqlcipher3-wheels==0.5.5.post0" > .lock-overrides.txt
	uv pip compile pyproject.toml --extra test --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--override .lock-overrides.txt --no-header -o requirements.lock
	rm -f .lock-overrides.txt

# Generate the demo company on SQLite and run the server, ready to log into.
demo: $(VENV)/.installed
	$(BIN)/satchel demo

# The whole test suite, on SQLite and PostgreSQL, on every core. One pytest worker more than there
# are cores: a worker spends a third of its time waiting (PostgreSQL, the servers, Dovecot and the
# browser the tests start), and another keeps the cores busy meanwhile.
test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest -n $$(( $$(nproc) + 1 )) --dist worksteal

# Benchmarks; results go to bench/RESULTS.md.
bench: $(VENV)/.installed
	$(BIN)/python -m bench

# Thousands of sync convergence histories (the test run tries 3 per database, from an offset drawn each run).
soak: $(VENV)/.installed
	PYTHONPATH=. $(BIN)/python -m tests.sync.convergence --histories 5000
	PYTHONPATH=. $(BIN)/python -m tests.sync.convergence --histories 2000 --database postgresql
