# ehcmpi — two commands on a fresh machine:  make run   |   make test
# The interpreter: the distribution's own Python >= 3.11 where it has venv — Debian, Ubuntu
# and Fedora build theirs with PGO and LTO, Debian and Ubuntu link it statically too — else
# python3 from PATH.  On Debian's the server's Python ran 12 % fewer instructions per HL7 feed
# than on a plain source build, pyenv's default (bench/README.md, "Where a request's CPU goes").
# `make PYTHON=python3.12 ...` chooses another; `make clean` first if .venv exists.  Deferred
# (=): the probe runs only when .venv is created, not on every make.
SYSTEM_PYTHON := /usr/bin/python3
ifeq ($(origin PYTHON),undefined)
PYTHON = $(shell $(SYSTEM_PYTHON) -c 'import ensurepip, sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $(SYSTEM_PYTHON) || echo python3)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
CONFIG ?=
RUN_ARGS := $(if $(CONFIG),--config $(CONFIG),)
# SoftHSM2 (Debian softhsm2): the PKCS#11 token of the HSM crypto provider's tests
SOFTHSM := /usr/bin/softhsm2-util
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP) $@

## make run: install, create the key file if missing, serve FHIR :8080 and MLLP :2575 on SQLite
run: $(STAMP)
	$(BIN)/ehcmpi keys init --if-missing $(RUN_ARGS)
	$(BIN)/ehcmpi serve $(RUN_ARGS)

## make test: ruff, mypy and the whole pytest suite on SQLite and PostgreSQL
test: $(DEV_STAMP) lint typecheck pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check ehcmpi tests bench
	$(BIN)/ruff format --check ehcmpi tests bench

typecheck: $(DEV_STAMP)
	$(BIN)/mypy ehcmpi

pytest: $(DEV_STAMP) $(SOFTHSM)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

$(SOFTHSM):
	command -v softhsm2-util >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y softhsm2; }

## make bench: throughput and latency benchmarks (bench/), PostgreSQL and SQLite; ARGS=--quick
## then matching quality and speed (MATCH_ARGS for match_quality.py, ONLINE_ARGS for match_online.py)
## and ITI-8 feeds / ITI-9 queries over MLLP (MLLP_ARGS for mllp_bench.py)
## and EHC QR generation / verification in process and over HTTP (QR_ARGS for qr_bench.py)
## and ITI-119 $match over HTTP at 100k and 1M patients (FHIR_MATCH_ARGS for fhir_match_bench.py)
## and PDQm search and Patient read/s at 100k and 1M patients (SEARCH_ARGS for search_bench.py)
## and SM2 sign/verify per second, SM4-GCM and SM3 MB/s (CRYPTO_ARGS for crypto_bench.py)
MATCH_ARGS ?=
ONLINE_ARGS ?=
MLLP_ARGS ?=
QR_ARGS ?=
FHIR_MATCH_ARGS ?=
SEARCH_ARGS ?=
CRYPTO_ARGS ?=
bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py $(ARGS)
	$(BIN)/python bench/match_quality.py $(MATCH_ARGS)
	$(BIN)/python bench/match_online.py $(ONLINE_ARGS)
	$(BIN)/python bench/mllp_bench.py $(MLLP_ARGS)
	$(BIN)/python bench/qr_bench.py $(QR_ARGS)
	$(BIN)/python bench/fhir_match_bench.py $(FHIR_MATCH_ARGS)
	$(BIN)/python bench/search_bench.py $(SEARCH_ARGS)
	$(BIN)/python bench/crypto_bench.py $(CRYPTO_ARGS)
	$(BIN)/python bench/roundtrip_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
