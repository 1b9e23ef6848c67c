# telecom-gis developer entry points. `make help` lists the targets.
#
# Database: when DATABASE_URL is set (environment or `make X DATABASE_URL=...`)
# it is used as is and NOTHING is provisioned (no apt-get, no local cluster).
# Otherwise the recipes that need a database start the private PostgreSQL +
# PostGIS cluster of this checkout with scripts/pg.sh (installing the Debian
# packages when missing); its port is TGIS_PG_PORT (default 55432).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# Each recipe runs as one bash script (so DATABASE_URL set early is seen later).
.ONESHELL:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PORT ?= 8080
BIND ?= 127.0.0.1

# --locked once Cargo.lock exists (cargo refuses --locked without it).
LOCKED := $(if $(wildcard Cargo.lock),--locked)
# Release binary, honouring CARGO_TARGET_DIR (expanded by the shell).
BIN := "$${CARGO_TARGET_DIR:-target}/release/telecom-gis"
# rustfmt ignores CARGO_TERM_COLOR: pass it on (CI sets it to never).
FMT_CHECK := -- --check$(if $(CARGO_TERM_COLOR), --color $(CARGO_TERM_COLOR))

# Shell prelude for every recipe: `run CMD...` prints CMD, then runs it.
PRELUDE := run() { printf '==> %s\n' "$$*" >&2; "$$@"; }

ifdef DATABASE_URL
ENSURE_DB := export DATABASE_URL; echo "==> using DATABASE_URL from the environment (nothing provisioned)" >&2
ENSURE_OGR := command -v ogrinfo >/dev/null || { echo "error: ogrinfo not found: install gdal-bin (DATABASE_URL is set, so make installs nothing)" >&2; exit 1; }
ENSURE_QGIS := /usr/bin/python3 -c 'import qgis.core' 2>/dev/null || { echo "error: QGIS's Python bindings not found: install python3-qgis (DATABASE_URL is set, so make installs nothing)" >&2; exit 1; }
else
ENSURE_DB := DATABASE_URL="$$(scripts/pg.sh start | tail -n1)"; [[ -n $$DATABASE_URL ]]; export DATABASE_URL
ENSURE_OGR := command -v ogrinfo >/dev/null || scripts/ensure-packages.sh gdal-bin
# Headless QGIS for tests/api/qgis_client.rs (Debian's python3-qgis, run with /usr/bin/python3).
ENSURE_QGIS := /usr/bin/python3 -c 'import qgis.core' 2>/dev/null || scripts/ensure-packages.sh python3-qgis
endif

.PHONY: help run test lint fmt bench db psql stop clean token

help: ## Show this help
	@echo "Usage: make TARGET [PORT=8080] [BIND=127.0.0.1] [DATABASE_URL=...]"
	echo
	echo "Targets:"
	awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_.-]+:.*## / { printf "  %-8s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	echo
	echo "Without DATABASE_URL, a private PostgreSQL/PostGIS cluster is used (.data/,"
	echo "port TGIS_PG_PORT, default 55432); CARGO_TARGET_DIR is honoured."

run: ## Build (release), migrate, load the sample data and serve on BIND:PORT
	@$(PRELUDE)
	$(ENSURE_DB)
	run scripts/web.sh build
	run cargo build --release $(LOCKED)
	run $(BIN) migrate
	run $(BIN) load-sample
	echo "==> serving on http://$(BIND):$(PORT)/ (Ctrl-C to stop)" >&2
	PORT='$(PORT)' BIND='$(BIND)' exec $(BIN) serve

test: ## fmt check, clippy -D warnings, cargo test (+ web tests); provisions the db, gdal-bin, python3-qgis and .venv/
	@$(PRELUDE)
	$(ENSURE_DB)
	$(ENSURE_OGR)
	$(ENSURE_QGIS)
	# pyogrio's current GDAL for the OGC API tiles client (tests/api/gdal_client.rs).
	export TGIS_GIS_PYTHON="$$(scripts/py-venv.sh)"
	run cargo fmt --all $(FMT_CHECK)
	run cargo clippy --all-targets $(LOCKED) -- -D warnings
	run cargo test $(LOCKED)
	# The binary cargo test just built (for tests/api/ops_*.rs): the browser tests
	# reuse it instead of a second build with other features.
	export TGIS_BIN="$$(realpath -m "$${CARGO_TARGET_DIR:-target}")/debug/telecom-gis"
	run scripts/web.sh test

lint: ## Check formatting and run clippy with -D warnings (no database)
	@$(PRELUDE)
	run cargo fmt --all $(FMT_CHECK)
	run cargo clippy --all-targets $(LOCKED) -- -D warnings

fmt: ## Format the code (cargo fmt)
	@$(PRELUDE)
	run cargo fmt --all

bench: ## Run the benchmarks (cargo bench) against the database
	@$(PRELUDE)
	$(ENSURE_DB)
	run cargo bench $(LOCKED)

db: ## Start the local database if needed and print its URL
	@$(PRELUDE)
	$(ENSURE_DB)
	echo "$$DATABASE_URL"

psql: ## Open psql on the database
	@$(PRELUDE)
	$(ENSURE_DB)
	command -v psql >/dev/null || { echo "error: psql not found (Debian: apt-get install postgresql-client)" >&2; exit 1; }
	exec psql "$$DATABASE_URL"

stop: ## Stop the local database cluster (no error if it is not running)
	@scripts/pg.sh stop

clean: ## Stop and delete the local database cluster and .data/ (not target/)
	@scripts/pg.sh clean
	rm -rf .data

ROLE ?=
OPERATOR ?=
NAME ?=

token: ## Create an API token on the `make run` database: make token ROLE=carrier OPERATOR=viettel NAME="Viettel GIS"
	@$(PRELUDE)
	[[ -n "$(ROLE)" && -n "$(NAME)" ]] || { echo 'usage: make token ROLE=admin|carrier|analyst [OPERATOR=viettel] NAME="what it is for"' >&2; exit 2; }
	$(ENSURE_DB)
	cargo build --release $(LOCKED) --quiet >&2
	# Logs and notes go to stderr: the token is alone on the last line of stdout.
	RUST_LOG=warn $(BIN) token create --role '$(ROLE)' $(if $(OPERATOR),--operator '$(OPERATOR)') --name '$(NAME)'
