#!/usr/bin/env bash
# Lint (ruff check + format check), then the whole test suite (unit tests, every notebook executed with
# papermill, the browser test): sets up .venv if needed. The fast loop: .venv/bin/pytest -m "not slow and not notebook and not browser".
#   scripts/run_tests.sh            # everything
#   scripts/run_tests.sh -k fusion  # extra arguments go to pytest
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$("$root/scripts/ensure_env.sh")"
cd "$root"
"$root/.venv/bin/ruff" check .
"$root/.venv/bin/ruff" format --check .
exec "$python" -m pytest "$@"
