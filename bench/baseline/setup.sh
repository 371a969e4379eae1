#!/usr/bin/env bash
# Makes the Python baseline's venv (once) and prints the python to run it with
# (the last line of stdout). Idempotent: an up-to-date venv is left as it is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${BASELINE_VENV:-$root/target/bench/baseline-venv}"
requirements="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

# Python 3.11 (the pinned wheels are for it); else whatever python3 is.
python=""
for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then
        python="$(command -v "$candidate")"
        break
    fi
done
if [ -z "$python" ]; then
    echo "setup.sh: no python3 found" >&2
    exit 1
fi

wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
    mkdir -p "$(dirname "$venv")"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
    "$venv/bin/python" -c "import confluent_kafka, fastavro, mysql.connector" >&2
    echo "$wanted" > "$stamp"
fi

echo "$venv/bin/python"
