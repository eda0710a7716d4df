#!/usr/bin/env bash
# Set up (tools/setup.sh) and open the quickstart notebook in JupyterLab on 127.0.0.1.
# Headless instead: .venv/bin/matwidgets predict examples/*.cif
set -euo pipefail
cd "$(dirname "$0")/.."
MATWIDGETS_SKIP_BROWSER=1 bash tools/setup.sh
ROOT_FLAG=""; [ "$(id -u)" = 0 ] && ROOT_FLAG="--allow-root"
.venv/bin/matwidgets predict examples/Si.cif examples/NaCl.cif
exec .venv/bin/jupyter lab --ip=127.0.0.1 $ROOT_FLAG notebooks/01_quickstart.ipynb
