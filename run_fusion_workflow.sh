#!/usr/bin/env bash
# The whole pipeline in one command: sets up .venv if needed, then runs `emo workflow`.
#   ./run_fusion_workflow.sh                                  # synthetic demo corpus, no data needed
#   ./run_fusion_workflow.sh --data-root ../shared/data/ravdess --out runs/ravdess
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="$("$root/scripts/ensure_env.sh")"
cd "$root"
exec "$python" -m emo_utils.cli workflow "$@"
