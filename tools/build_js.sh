#!/usr/bin/env bash
# Bundle js/src/*.js (one ES module per widget) into matwidgets/static/ with esbuild.
#   tools/build_js.sh          build
#   tools/build_js.sh --check  build elsewhere and fail if the committed bundle differs
set -euo pipefail
cd "$(dirname "$0")/../js"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
out=../matwidgets/static
[ "${1:-}" = "--check" ] && out=$(mktemp -d)
npx esbuild src/*.js --bundle --loader:.css=text --format=esm --minify --target=es2020 --legal-comments=none --outdir="$out" --log-level=warning
if [ "${1:-}" = "--check" ]; then
  if ! diff -r "$out" ../matwidgets/static > /dev/null; then
    echo "matwidgets/static is stale: run tools/build_js.sh and commit the bundle" >&2
    diff -rq "$out" ../matwidgets/static >&2 || true
    exit 1
  fi
  echo "JS bundle is fresh"
fi
