# The two commands of the README:
#   make demo   -- runs the demo (sets up what it needs)
#   make test   -- runs everything CI runs: ruff, mypy --strict, the docs, pytest, bounded fuzzing
# Both create a local virtualenv (.venv) on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FUZZ_SECONDS ?= 60

.PHONY: test demo venv lint typecheck docs unit pythons fuzz servers clean mutation mutation-sample

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[dev,bench,server,docs]'
	touch $@

venv: $(VENV)/.installed

servers: venv
	@if [ -x scripts/ejabberd/start-ejabberd.sh ]; then scripts/ejabberd/start-ejabberd.sh --if-possible; fi
	@if [ -x scripts/ejabberd/start-cluster.sh ]; then scripts/ejabberd/start-cluster.sh --if-possible; fi
	@scripts/node-deps.sh --if-possible
	@scripts/dns-deps.sh --if-possible

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

# The documentation (Sphinx, the API reference from the docstrings) into docs/_build/html;
# every warning is an error, so a broken docstring or reference fails `make test`.
docs: venv
	$(VENV)/bin/sphinx-build -q -W --keep-going -b html docs docs/_build/html

# With line and branch coverage; scripts/coverage_floor.py fails the run when a package
# is below its floor in .coverage-floor (see tests/README.md).
# (coverage run, not pytest-cov: the package's own pytest plugin imports the core before
# pytest-cov would start measuring, and every module-level line would count as missed.)
unit: venv servers
	rm -f .coverage
	$(PY) -m coverage run -m pytest -q
	$(PY) scripts/coverage_floor.py

# The unit suites on the other Pythons the package claims (3.10, 3.12, 3.13).
pythons: venv
	scripts/other-pythons.sh

fuzz: venv
	$(PY) fuzz/run_all.py --seconds $(FUZZ_SECONDS)

# Mutation testing of the modules that carry the guarantees (scripts/mutation.py has the
# table of modules and tests; scores and reviewed survivors in tests/README.md).  Not in
# make test (CPU-heavy); a bounded sample of it is.
mutation: venv
	$(PY) scripts/mutation.py --check

mutation-sample: venv
	$(PY) scripts/mutation.py --sample --check

test: lint typecheck docs unit pythons fuzz mutation-sample

demo: venv
	$(VENV)/bin/cubeproto demo

clean:
	rm -rf $(VENV) .venv-3.* build docs/_build .mypy_cache .ruff_cache .pytest_cache .hypothesis
