#!/usr/bin/env bash
# Open the course in JupyterLab (sets up .venv if needed): the server listens on 127.0.0.1 only, its root is
# the repository and it opens at notebooks/. Prints the URL (with its access token) to paste into a browser.
#   scripts/lab.sh                    # port 8888, or the next free one
#   scripts/lab.sh --port 9000 --no-browser
#   scripts/lab.sh --dry-run          # print the command and the URL, start nothing
#   EMO_PYTHON=python scripts/lab.sh  # use this environment's Python (conda) instead of .venv
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port=8888
dry_run=0
extra=()
usage() {
    sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo "Options: --port N (first port to try), --dry-run, --help; other options go to 'jupyter lab'."
}
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --dry-run) dry_run=1 ;;
        --port) port="$2"; shift ;;
        --port=*) port="${1#--port=}" ;;
        *) extra+=("$1") ;;
    esac
    shift
done
python="${EMO_PYTHON:-$("$root/scripts/ensure_env.sh")}"
python="$(command -v "$python")"
# A free port from $port on, chosen here so the printed URL is the one the server uses.
port="$("$python" - "$port" <<'EOF'
import socket, sys
first = int(sys.argv[1])
for port in range(first, first + 50):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
else:
    sys.exit(f"no free port in {first}-{first + 49}: pass --port N")
EOF
)"
token="$("$python" -c 'import secrets; print(secrets.token_hex(24))')"
cmd=("$python" -m jupyter lab --ip=127.0.0.1 --port="$port" --ServerApp.port_retries=0
     --ServerApp.root_dir="$root" --ServerApp.default_url=/lab/tree/notebooks --IdentityProvider.token="$token"
     ${extra[@]+"${extra[@]}"})
[ "$(id -u)" = 0 ] && cmd+=(--allow-root)  # containers and CI run as root; jupyter refuses that otherwise
url="http://127.0.0.1:$port/lab/tree/notebooks?token=$token"
if [ "$dry_run" = 1 ]; then
    printf '%q ' "${cmd[@]}"; echo
    echo "URL: $url"
    exit 0
fi
echo "[lab] the course opens at: $url" >&2
echo "[lab] stop the server with Ctrl-C" >&2
exec "${cmd[@]}"
