#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment with everything matwidgets and its
# tests need. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# the CPU build of torch from local disk; a plain "torch" would pull a multi-GB CUDA build
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[test]"
# an editable install gets no data files: link the prebuilt JupyterLab extension and switch
# the server extension on (a wheel install does both through its data files)
PATH="$(pwd)/.venv/bin:$PATH" jupyter labextension develop --overwrite . > /dev/null
mkdir -p .venv/etc/jupyter/jupyter_server_config.d
cp jupyter-config/matwidgets.json .venv/etc/jupyter/jupyter_server_config.d/
# the nbconvert template for offline HTML (`jupyter nbconvert --to html --template matwidgets`)
mkdir -p .venv/share/jupyter/nbconvert/templates
ln -sfn "$(pwd)/jupyter-config/nbconvert/matwidgets" .venv/share/jupyter/nbconvert/templates/matwidgets
# Debian's chromium for the browser tests (never a browser downloaded by a tool)
if [ "${MATWIDGETS_SKIP_BROWSER:-0}" != "1" ] && [ ! -x /usr/bin/chromium ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q && $SUDO apt-get install -y -q chromium
fi
echo "setup done: . .venv/bin/activate"
