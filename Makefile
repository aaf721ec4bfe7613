# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest py313 bench bench-smoke soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: lint typecheck pytest bench-smoke

lint: $(STAMP)
	$(BIN)/ruff check aiodl tests testing examples benchmarks
	$(BIN)/ruff format --check aiodl tests testing examples benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict aiodl

pytest: $(STAMP)
	$(BIN)/pytest

# The suite again under Python 3.13 in its own venv (the wheel test runs once, under 3.11).
# Not in .ci/run yet: under 3.13 eight tests fail (unclosed-sqlite ResourceWarnings that
# 3.13 adds, one float rounding), to be fixed before CI runs it.
PY313 ?= python3.13
py313:
	$(PY313) -m venv .venv313
	.venv313/bin/pip install --quiet -e '.[test]'
	.venv313/bin/pytest -q -m 'not packaging'

bench: $(STAMP)
	bash benchmarks/setup.sh
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/polite.py
	$(BIN)/python benchmarks/scale.py

# Keeps the harness working in CI: small data, aiodl and curl only, no ratios asserted.
bench-smoke: $(STAMP)
	$(BIN)/python benchmarks/run.py --smoke
	$(BIN)/python benchmarks/polite.py --smoke
	$(BIN)/python benchmarks/scale.py --smoke

# Randomised fault soak, not part of `make test`: 5 minutes of faulty servers, every Result
# checked; exits non-zero if a promise broke. SOAK_ARGS='--seed 7 --minutes 1', or '--smoke'.
soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .venv313 .mypy_cache .ruff_cache .pytest_cache
