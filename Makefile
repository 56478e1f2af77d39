# The lab book in two commands, each making (or reusing) its environment first (tools/env.sh):
#   make book   execute every chapter in the full profile (the committed outputs), then build the book
#   make test   the whole test suite: ruff, then pytest (unit tests, the book in a browser, the handout,
#               a graded class, every notebook through nbval in the smoke profile); CI runs exactly this
# VENV (default .venv) and LABBOOK_DATA (default data) say where the environment and the datasets live.
VENV ?= .venv
LABBOOK_DATA ?= data
export VENV LABBOOK_DATA
BIN := $(abspath $(VENV))/bin

.PHONY: env book test
env:
	bash tools/env.sh

book: env
	$(BIN)/labbook execute
	$(BIN)/labbook book

test:
	bash tools/env.sh --browser
	PATH="$(BIN):$$PATH" ruff check
	PATH="$(BIN):$$PATH" ruff format --check
	PATH="$(BIN):$$PATH" python -m pytest
