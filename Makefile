# survtrack: `make test` and `make demo` work on a fresh machine with Python >= 3.11.
# uv comes from PyPI into .tools/ when the machine has none; the environment is .venv/,
# built from uv.lock exactly.

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --locked --no-sync

CHROMIUM := /usr/bin/chromium

.PHONY: test demo env xmlwalk chromium lint bench docs clean notebooks

env: .venv/.synced .venv/.bytecode xmlwalk

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

# Bytecode compiled once at install: where PYTHONDONTWRITEBYTECODE is set (as on this project's
# machines) every process would otherwise compile every module it imports at each start (the
# CLI's imports: 4.4 s CPU without, 1.2 s with; each test that runs the CLI, each ingest worker).
.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --compile-bytecode
	$(UV) run --locked --no-sync python -m compileall -q survtrack
	touch $@

# A venv synced before the rule above compiled bytecode gets it once here (without, each ingest
# worker spent ~0.3 s CPU compiling what it imports at every start); a fresh one finds it done.
# --inexact: tools installed beside the lock (py-spy) stay.
.venv/.bytecode: .venv/.synced
	$(UV) sync --locked --inexact --compile-bytecode
	$(UV) run --locked --no-sync python -m compileall -q survtrack
	touch $@

# The optional C walk of XML trees (survtrack/scrapers/_xmlwalk.pyx: Cython over lxml's C API,
# gcc and the Python headers), built in place; again only when its source or lxml changed. A
# failed build says why and leaves the Python walk (same results, slower; a warning at import).
xmlwalk: .venv/.synced
	$(RUN) python -m survtrack.scrapers._xmlwalk_build

# Two workers (the machine has two cores; a test file stays on one worker, so its session
# fixtures — the demo warehouse, the journeys' browser — are built once per worker).
# `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2

test: env chromium
	$(RUN) pytest -n $(PYTEST_WORKERS) --dist loadfile

# The browser tests drive Debian's chromium. Missing, it is installed as .ci/run does (as root,
# or with sudo that needs no password); otherwise make stops and prints the one command to run.
chromium:
	@[ -x $(CHROMIUM) ] || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo"; \
	  else SUDO=none; fi; \
	  if [ "$$SUDO" = none ] || ! command -v apt-get >/dev/null; then \
	    echo "The browser tests need Debian's chromium at $(CHROMIUM). Install it, then run make test again:"; \
	    echo "  sudo apt-get install -y chromium"; exit 1; fi; \
	  echo "installing Debian's chromium for the browser tests"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: env
	$(RUN) survtrack demo

# JupyterLab (dependency group `notebooks`) on 127.0.0.1, opened in notebooks/; the notebooks
# find data/survtrack.duckdb (or SURVTRACK_DB, relative to the project) from there.
# PORT=8888 by default.
PORT ?= 8888
notebooks: env
	$(UV) sync --locked --group notebooks
	cd notebooks && ../.venv/bin/jupyter lab --ip 127.0.0.1 --port $(PORT) --no-browser \
		$(if $(filter 0,$(shell id -u)),--allow-root)

lint: env
	$(RUN) ruff check survtrack tests bench

docs: env
	$(RUN) survtrack docs docs

bench: env
	for b in bench/bench_*.py; do $(RUN) python $$b; done

clean:
	rm -rf .venv .tools .pytest_cache
	rm -f survtrack/scrapers/_xmlwalk.c survtrack/scrapers/_xmlwalk.*.so
