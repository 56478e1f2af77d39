#!/usr/bin/env bash
# The lab book's environment, made or reused: a virtual environment with torch, the project and its tools,
# the datasets in reach, and (with --browser) Debian's chromium for the browser tests. Used by the Makefile:
# `make book` and `make test` call it first, and CI (.ci/run) calls `make test`.
#
#   VENV=.venv LABBOOK_DATA=data bash tools/env.sh [--browser]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
data="${LABBOOK_DATA:-data}"

# 1. Headless Chromium and its driver (Debian's packages), only for the tests that open pages in a browser.
if [ "${1:-}" = "--browser" ] && { ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; }; then
  echo "[env] installing Debian's chromium and chromium-driver"
  sudo=""; if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi

# 2. The virtual environment, rebuilt only when the dependency files change.
key=$(cat pyproject.toml environment.yml | sha256sum | cut -c1-16)
if [ "$(cat "$venv/.complete" 2>/dev/null)" != "$key" ]; then
  echo "[env] creating $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
  # The torch/torchvision pair that installs on the course machines (the project itself allows a range).
  "$venv/bin/python" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
  "$venv/bin/python" -m pip install -q ".[tools,dev,book]"  # the labbook tools (nbgrader), tests, the book
  "$venv/bin/python" -m pip uninstall -q -y gan-labbook
  echo "$key" > "$venv/.complete"
fi
# This checkout's labutils and labbook (and the `labbook` command), without touching the dependencies.
"$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e .

# 3. The datasets: a writable copy of ../shared/data where the course machines have one (offline); elsewhere
#    torchvision downloads them into $data on first use.
if [ -d ../shared/data ]; then
  mkdir -p "$data"
  cp -rn ../shared/data/. "$data/" || true   # -n keeps what is there (some cp versions then exit 1)
  chmod -R u+w "$data"
fi
echo "[env] python $("$venv/bin/python" --version 2>&1 | cut -d' ' -f2), torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)'), data in $data"
