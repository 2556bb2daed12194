# Waymark: `make run` starts it, `make test` installs everything and runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/waymark serve --port $(PORT)

test: install
	$(BIN)/python -m pytest -n 2 -q

bench: install
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) var build *.egg-info
