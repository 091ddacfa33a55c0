# prioscore: `make serve` and `make test` are all a fresh machine needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.installed-server
PROTO_SRC := $(wildcard protos/prioscore/v1/*.proto)
DB ?= ./data/prioscore.db
ADDRESS ?= 127.0.0.1:50051
# The bundled profiles ship inside the package; profiles/ is yours (seeded from them).
BUNDLED := server/profiles/bundled
PROFILES ?= profiles
BUF := .tools/buf/node_modules/.bin/buf

.PHONY: venv serve test chromium buf proto check lint format bench clean

# Two installs: serving needs only the server extra; tests, lint and `make proto` need the
# dev extra (which includes the server). Each has its own stamp, remade when pyproject changes.
venv: $(STAMP)

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools

$(SERVE_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[server]'
	@touch $(SERVE_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[dev,bench,lake]'
	@touch $(STAMP) $(SERVE_STAMP)

# Seeds profiles/ with every bundled profile it lacks (your edits and additions stay), then
# serves it, so promote writes to your copy and never into the package.
serve: $(SERVE_STAMP)
	@mkdir -p $(PROFILES)
	@for f in $(BUNDLED)/*.toml; do [ -e $(PROFILES)/$${f##*/} ] || cp $$f $(PROFILES)/; done
	$(PY) -m prioscore.server --address $(ADDRESS) --db $(DB) --profiles $(PROFILES)

# The dashboard's browser tests need Debian's chromium; .ci/chromium installs it when absent.
chromium:
	@bash .ci/chromium

# buf comes from npm (a binary inside the registry package); skipped when npm is absent,
# so the proto lint tests run in a fresh clone too.
buf:
	@if command -v npm >/dev/null && [ ! -x $(BUF) ]; then \
		npm install --silent --prefix .tools/buf @bufbuild/buf; fi

test: $(STAMP) chromium buf
	$(PY) -m pytest -q

# Regenerates the committed stubs; tests/test_generated_stubs.py fails when they are stale.
proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=protos --grpc_python_out=protos \
		--pyi_out=protos $(PROTO_SRC)

# The gate CI runs beside the tests: ruff check, ruff format --check, mypy and buf lint.
# mypy cannot follow the editable-install path mapping, so it reads a symlinked tree.
check: $(STAMP) buf
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@mkdir -p .mypy_src/prioscore
	@ln -sfn ../../server .mypy_src/prioscore/server
	@ln -sfn ../../clients .mypy_src/prioscore/clients
	@ln -sfn ../../protos/prioscore/v1 .mypy_src/prioscore/v1
	MYPYPATH=.mypy_src $(VENV)/bin/mypy --namespace-packages --explicit-package-bases \
		-p prioscore.server -p prioscore.clients
	@if [ -x $(BUF) ]; then $(BUF) lint protos && $(BUF) format --diff --exit-code protos; \
	else echo "npm not found: buf lint skipped"; fi

lint: check

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) bench/engine.py
	$(PY) bench/store.py
	$(PY) bench/service.py
	$(PY) bench/batch.py
	$(PY) bench/calibration.py
	$(PY) bench/relations.py
	$(PY) bench/lake.py
	$(PY) bench/shards.py
	$(PY) bench/segment_http.py
	$(PY) bench/dashboard.py

clean:
	rm -rf $(VENV) .mypy_src .pytest_cache .ruff_cache .mypy_cache
