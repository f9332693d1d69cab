# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint typecheck unit bench clean

# The project and its runtime dependencies (cryptography, click, rich, prometheus-client).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

# Plus the test-only extra: pytest, hypothesis, ruff, mypy and the peers used as oracles.
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/cosemnet demo

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

unit: $(TEST_STAMP) tshark postgresql
	COSEMNET_PG_BIN=$(PG_BIN) $(BIN)/pytest -n 2 -q

test: lint typecheck unit

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/codec.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .mypy_cache .pytest_cache .ruff_cache

# Wireshark's tshark for tests/lon/test_tshark.py (which skips without it). Installs Debian's package
# only when tshark is missing and we run as root; the setuid dumpcap question is answered "no".
.PHONY: tshark
tshark:
	@if command -v tshark >/dev/null 2>&1; then \
		echo "tshark: $$(tshark --version 2>/dev/null | head -n 1)"; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "tshark missing, not root or no apt-get: not installing (tests/lon/test_tshark.py will skip)"; \
	else \
		echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark >/dev/null; \
	fi

# PostgreSQL 15 server binaries for tests/headend/storage: the tests start a throwaway cluster of their
# own (initdb + pg_ctl in a temporary directory, unix socket only) and stop it at the end, so nothing
# is started here (docs/decisions/0061). Installs Debian's package only when missing and we run as
# root; without it those tests skip, or fail when CI=true.
PG_BIN ?= /usr/lib/postgresql/15/bin
.PHONY: postgresql
postgresql:
	@if [ -x $(PG_BIN)/initdb ] && [ -x $(PG_BIN)/pg_ctl ]; then \
		echo "postgresql: $$($(PG_BIN)/postgres --version)"; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "postgresql-15 missing, not root or no apt-get: not installing (the PostgreSQL storage tests will skip)"; \
	else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null; \
	fi
