#!/usr/bin/env bash
# The trainer's GPU check (bench/gpu_check.py): throughput + MFU of gpt2-124m against llm.c's anchor, kill and
# resume, a 2 x 2 ablation on CUDA. `bash bench/gpu_check.sh --device cpu` rehearses the same logic on the CPU.
# Uses .venv when present (make venv), else the python3 on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
exec "$PY" bench/gpu_check.py "$@"
