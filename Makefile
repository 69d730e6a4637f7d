# The two commands of the README: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: run cluster test install install-test bench compat clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(PY) pyproject.toml
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(VENV)/bin/kbroker serve --listen 127.0.0.1:9092

cluster: install
	$(VENV)/bin/kbroker cluster --brokers 3 --listen 127.0.0.1:9092 --data-dir kbroker-cluster-data

test: install-test
	$(PY) -m pytest -q

compat: install
	$(PY) compat/run.py --install --check-baseline

bench: install-test
	$(PY) bench/produce_consume.py

clean:
	rm -rf $(VENV) kbroker-data kbroker-cluster-data *.egg-info
