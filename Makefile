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
	$(PIP) -e .
	touch $@

# torch 2.13.0 is the CPU wheel on this machine's disk; the tests that compare with PyTorch
# skip cleanly where it is missing, and golden files keep the core checks running.
$(VENV)/.test: $(VENV)/.runtime
	$(PIP) -e '.[test]'
	$(PIP) torch==2.13.0 || echo "torch==2.13.0 not installed: PyTorch comparisons will skip"
	touch $@

demo: $(VENV)/.runtime
	$(VENV)/bin/fovea train

test: $(VENV)/.test
	$(PY) -m pytest

bench: $(VENV)/.test
	$(PY) benchmarks/train_step.py

clean:
	rm -rf $(VENV) runs .pytest_cache
