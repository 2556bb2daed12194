# Waymark: `make run` starts it, `make test` installs everything and runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/waymark staff demo
	$(BIN)/waymark serve --port $(PORT)

# The browser tests drive Debian's chromium (/usr/bin/chromium); elsewhere Playwright's own Chromium.
browser: install
	command -v chromium >/dev/null || (command -v apt-get >/dev/null && (apt-get update && apt-get install -y chromium \
	  || (sudo apt-get update && sudo apt-get install -y chromium))) || $(BIN)/python -m playwright install chromium

test: install browser
	$(BIN)/python -m pytest -n 2 -q

bench: install
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) var build *.egg-info
