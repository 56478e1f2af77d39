#!/usr/bin/env bash
# The GPU check, on the GPU machine (PyTorch and CUDA, no Jupyter stack, no network). From the repository root:
#
#   bash tools/gpu_check.sh OUT_DIR [TIME_LIMIT_S]
#
# It installs the Jupyter packages from the wheels carried in .whl/ and reads the datasets carried in
# .gpu-data/ (both made here by tools/gpu_prepare.sh: MNIST and USPS; Fashion-MNIST, too large to carry with
# the rest, is replaced by the loudly announced stand-in), then runs `labbook gpu-check`, which always writes
# OUT_DIR/summary.md.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: bash tools/gpu_check.sh OUT_DIR [TIME_LIMIT_S]}"
limit="${2:-540}"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "[gpu-check] the carried wheels did not install" >&2; exit 2; }
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # labutils and labbook from this checkout
export LABBOOK_DATA="${LABBOOK_DATA:-$PWD/.gpu-data}"
[ -d "$LABBOOK_DATA/FashionMNIST" ] || export LABBOOK_STANDIN=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
python3 -m labbook gpu-check --out "$out" --time-limit "$limit"
