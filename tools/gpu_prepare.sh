#!/usr/bin/env bash
# Here, before the GPU check: what the GPU machine lacks, in two ignored folders that the device's `run`
# carries (carry: [".whl", ".gpu-data"]), then `bash tools/gpu_check.sh "$OUT" 540` there.
#
# .gpu-data/: MNIST's .gz files and USPS from ../shared/data (Fashion-MNIST would not fit in the 64 MiB that
# travel; tools/gpu_check.sh replaces it by the announced stand-in).
# .whl/: the wheels of the Jupyter packages that the GPU image lacks.
#
# The GPU image has Python 3.12 with PyTorch, numpy, scipy, matplotlib, tqdm, pytest, pyyaml, pygments,
# packaging, psutil, attrs, markdown-it-py... but no Jupyter stack. This resolves the stack for that Python
# (so that the versions fit together), then keeps the wheels of the packages the image does not have.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=(asttokens comm debugpy executing fastjsonschema ipykernel ipython ipython_pygments_lexers ipywidgets jedi
  jsonschema jsonschema_specifications jupyter_client jupyter_core jupyterlab_widgets jupytext matplotlib_inline
  mdit_py_plugins nbclient nbformat nbval nest_asyncio2 parso pexpect platformdirs prompt_toolkit ptyprocess
  pure_eval pyzmq referencing rpds_py stack_data tornado traitlets tzdata wcwidth widgetsnbextension)
all=$(mktemp -d)
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$all" \
  nbformat nbclient ipykernel ipywidgets jupytext nbval
rm -rf .whl && mkdir -p .whl
for name in "${missing[@]}"; do
  found=$(ls "$all" | grep -i "^${name}-[0-9]" || true)
  [ -n "$found" ] || { echo "[gpu-prepare] no wheel for $name" >&2; exit 1; }
  cp "$all/$found" .whl/
done
rm -rf "$all"
echo "[gpu-prepare] $(ls .whl | wc -l) wheels, $(du -sh .whl | cut -f1), in .whl/"
shared="${SHARED_DATA:-../shared/data}"
rm -rf .gpu-data && mkdir -p .gpu-data/MNIST/raw
cp "$shared"/MNIST/raw/*.gz .gpu-data/MNIST/raw/
cp "$shared"/usps.bz2 "$shared"/usps.t.bz2 .gpu-data/
echo "[gpu-prepare] datasets: $(du -sh .gpu-data | cut -f1) in .gpu-data/; the whole tree that travels: $(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1) bytes tracked + these"
