#!/usr/bin/env bash
# Installs the pinned tools that build Python and JavaScript plugins, inside
# the checkout (nothing global), skipping what is there:
#   .tools/venv               componentize-py (Python -> component)
#   plugins/js/node_modules   componentize-js + jco, exactly as plugins/js/package-lock.json says
# Needs python3 (with venv) and node 20 / npm. Called by scripts/install.sh and,
# when a tool is missing, by scripts/build-plugins.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

COMPONENTIZE_PY_VERSION=0.25.1

venv=.tools/venv
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
  echo "install: componentize-py $COMPONENTIZE_PY_VERSION in $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi

# `npm ci` installs the lock file's exact tree; it is re-run when the lock changes.
stamp=plugins/js/node_modules/.installed-from-lock.json
if [ ! -x plugins/js/node_modules/.bin/componentize-js ] || ! cmp -s plugins/js/package-lock.json "$stamp"; then
  echo "install: componentize-js and jco in plugins/js/node_modules (npm ci)"
  (cd plugins/js && npm ci --no-audit --no-fund --loglevel=error)
  cp plugins/js/package-lock.json "$stamp"
fi
