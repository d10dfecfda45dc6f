# The two set-up commands of the README. Each builds its own virtual environment from nothing.
#   make demo   the main job (see README)
#   make test   install with the test extra and run the test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=23" "setuptools>=64,<81" wheel
	$(PY) -m pip install -q -e ".[test]"
	touch $@

test: $(VENV)/.installed
	$(VENV)/bin/pytest -q

demo: $(VENV)/.installed
	$(PY) -m nni_autotsnet.demo

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_flops.py

clean:
	rm -rf $(VENV) build *.egg-info
