#!/usr/bin/env bash
# GPU check: wav2vec 2.0 extraction and a short fine-tune (1 epoch x 3 actor folds) on CUDA and on the CPU,
# with random weights on the synthetic demo corpus; prints the throughput of each side by side. About 2 minutes
# on an idle machine with the tiny model (estimated; each step has a timeout: 8 minutes at most in all).
#
#   benchmarks/gpu_check.sh              # tiny model (2 layers x 32): checks the CUDA path end to end
#   SIZE=base benchmarks/gpu_check.sh    # wav2vec2-base architecture (95M parameters): realistic speeds (its CPU
#                                        # part needs many cores to stay within the 4-minute step timeout)
#   DEVICES=cpu benchmarks/gpu_check.sh  # the CPU part alone (on a machine without a GPU)
#
# Each device runs in its own process (accelerate holds one device per process). Results: $WORK/measured_*.json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$("$root/scripts/ensure_env.sh")}"
size="${SIZE:-tiny}"
work="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/emo-gpu-check.XXXXXX")}"
if [ -z "${DEVICES:-}" ]; then
    if "$python" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
        DEVICES="cuda cpu"
    else
        echo "[gpu_check] PyTorch sees no CUDA GPU: measuring the CPU only (see docs/gpu.md to install CUDA torch)" >&2
        DEVICES="cpu"
    fi
fi
cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"  # measure this checkout's code
export HF_HUB_OFFLINE=1  # random weights only: nothing to download
timeout 120 "$python" benchmarks/gpu_check.py prepare --work "$work" --size "$size"
rm -f "$work"/measured_*.json
for device in $DEVICES; do
    echo "[gpu_check] measuring on $device ..." >&2
    timeout 240 "$python" benchmarks/gpu_check.py measure --work "$work" --device "$device" --epochs "${EPOCHS:-1}" \
        2> "$work/measure_$device.log" || {
        rc=$?
        tail -n 20 "$work/measure_$device.log" >&2
        echo "[gpu_check] $device failed (exit $rc; 124: timed out)" >&2
        exit 1
    }
done
"$python" benchmarks/gpu_check.py report --work "$work"
