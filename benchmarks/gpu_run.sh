#!/usr/bin/env bash
# The GPU run as one prepared script (the `device` tool's H100/H200), at most about 8 minutes:
#   1. benchmarks/gpu_engine_check.py: every engine path (dense, prefix reuse, packs holding P once, padded packs,
#      whole-window packs, the engine's packed path, out-of-memory back-off) against a plain forward pass on CUDA;
#   2. benchmarks/gpu_speed.py: random-init Qwen2-1.5B and Qwen2.5-7B in bf16 on ~2K/8K/16K-token traces, the CLI
#      default against today's dense path, into $OUT/gpu-<date>.json (commit it as benchmarks/results/).
# Usage: OUT=results/ bash benchmarks/gpu_run.sh [TOKENIZER_DIR]
# On a machine without network, first `bash benchmarks/gpu_prepare.sh` here, then carry .whl and .gpu and pass
# .gpu/tokenizer: the wheels in .whl/ are installed into /tmp/site before anything runs.
set -uo pipefail
OUT=${OUT:-benchmarks/gpu-out}; mkdir -p "$OUT"
TOK=${1:-}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "gpu_run.sh: could not install the carried wheels" >&2; exit 1; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"
timeout 90 python3 benchmarks/gpu_engine_check.py 2>&1 | grep -v Warning | tee "$OUT/engine_check.log" | tail -30
timeout 420 python3 benchmarks/gpu_speed.py ${TOK:+--tokenizer "$TOK"} --budget-s 330 \
  --output "$OUT/gpu-$(date +%F).json" 2>&1 | grep -v Warning | tee "$OUT/gpu_speed.log" | tail -20
