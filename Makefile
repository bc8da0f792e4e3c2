# The two commands of the README:
#   make demo   -- runs the demo (sets up what it needs)
#   make test   -- runs everything CI runs: ruff, mypy --strict, pytest, bounded fuzzing
# Both create a local virtualenv (.venv) on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FUZZ_SECONDS ?= 60

.PHONY: test demo venv lint typecheck unit fuzz servers clean

# The editable install is setuptools' "strict" mode: a tree of links to the sources that
# type checkers can read (the default mode's import hook is invisible to mypy, because
# transports/ is mapped to cubeproto.transports).  A link tree does not see new modules,
# so `venv` re-links whenever the set of modules changes.
MODULES := $(sort $(wildcard cubeproto/*.py cubeproto/*/*.py transports/*.py transports/*/*.py))
EDITABLE := --config-settings editable_mode=strict

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[dev,bench,server]' $(EDITABLE)
	echo '$(MODULES)' > $(VENV)/.modules
	touch $@

venv: $(VENV)/.installed
	@if [ "$$(cat $(VENV)/.modules 2>/dev/null)" != '$(MODULES)' ]; then \
		echo "venv: modules added or removed, re-linking the editable install"; \
		$(PY) -m pip install -q --no-deps -e . $(EDITABLE) && echo '$(MODULES)' > $(VENV)/.modules; \
	fi

servers: venv
	@if [ -x scripts/ejabberd/start-ejabberd.sh ]; then scripts/ejabberd/start-ejabberd.sh --if-possible; fi
	@scripts/node-deps.sh --if-possible

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

unit: venv servers
	$(VENV)/bin/pytest -q

fuzz: venv
	$(PY) fuzz/run_all.py --seconds $(FUZZ_SECONDS)

test: lint typecheck unit fuzz

demo: venv
	$(VENV)/bin/cubeproto demo

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache .hypothesis
