#!/usr/bin/env bash
# Build the prebuilt JupyterLab extension (js/lab -> matwidgets/labextension) with JupyterLab's
# own builder. It bundles js/src/lib/viewer3d.js, so js/ needs its node_modules (three) too.
set -euo pipefail
cd "$(dirname "$0")/.."
JUPYTER=${JUPYTER:-.venv/bin/jupyter}
export PATH="$(dirname "$JUPYTER"):$PATH"  # jupyter labextension calls jupyter-builder by name
[ -d js/node_modules ] || (cd js && npm ci --no-audit --no-fund --loglevel=error)
[ -d js/lab/node_modules ] || (cd js/lab && npm ci --no-audit --no-fund --loglevel=error)
"$JUPYTER" labextension build js/lab
echo "built matwidgets/labextension"
