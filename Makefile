# Two entry points for a fresh machine (see README): `make demo` and `make test`.
# Each creates the virtual environment it needs in .venv and installs into it.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test bench clean

$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e '.[fast]'
	touch $@

# torch 2.13.0 (CPU) is the reference of the comparison tests: a failed install fails here,
# and no stamp is written.
$(VENV)/.test: $(VENV)/.runtime
	$(PIP) -e '.[test]'
	$(PIP) torch==2.13.0
	touch $@

demo: $(VENV)/.runtime
	$(VENV)/bin/fovea train

# FOVEA_REQUIRE_ORACLES=1: a missing torch, scipy, onnxruntime or ../shared/data/mnist fails
# the tests that need it instead of skipping them (tests/conftest.py).
test: $(VENV)/.test
	FOVEA_REQUIRE_ORACLES=1 $(PY) -m pytest

bench: $(VENV)/.test
	$(PY) benchmarks/train_step.py

clean:
	rm -rf $(VENV) runs .pytest_cache
