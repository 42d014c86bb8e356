#!/usr/bin/env bash
# The whole test suite (unit tests + every notebook executed with papermill): sets up .venv if needed.
#   scripts/run_tests.sh            # everything
#   scripts/run_tests.sh -k fusion  # extra arguments go to pytest
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$("$root/scripts/ensure_env.sh")"
cd "$root"
exec "$python" -m pytest "$@"
