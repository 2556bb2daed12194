# Waymark: `make run` starts it, `make test` installs everything and runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install browser bench catalogs model clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/pybabel compile --domain messages --directory locales --statistics
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

# After adding or changing English text: extract the ids from the code and flows, complete the
# template from the English catalog, carry it into every catalog (new ids arrive empty, to be
# translated; `waymark flows check` lists them), then compile.
catalogs: install
	$(BIN)/pybabel extract --mapping-file babel.cfg --keyword Message --no-wrap \
	  --project Waymark --output-file locales/messages.pot .
	$(BIN)/waymark flows template locales/messages.pot
	for dir in locales/*/; do lang=$$(basename $$dir); [ $$lang = en ] || $(BIN)/pybabel update --locale $$lang \
	  --input-file locales/messages.pot --output-dir locales --no-wrap --no-fuzzy-matching || exit 1; done
	$(BIN)/pybabel compile --domain messages --directory locales --statistics

model: install
	$(BIN)/waymark model train

bench: install
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) var build *.egg-info
