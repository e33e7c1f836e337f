#!/usr/bin/env bash
# The GPU benchmark as one prepared run (the `device` tool's H100/H200): random-init Qwen2-1.5B in bf16, on the
# bundled sample and synthetic traces of up to 2,048 and 8,192 response tokens:
#   A. SDPA: dense batches with prefix KV reuse, against the naive per-step reference and evaluate-style GALP;
#   B. flex attention: packed windows (no padding, no prefix reuse), same inputs.
# Usage: OUT=results/ bash benchmarks/gpu_run.sh [TOKENIZER_DIR]   (results land in $OUT/{A,B}.md and logs)
set -uo pipefail
OUT=${OUT:-benchmarks/gpu-out}; mkdir -p "$OUT"
TOK=${1:-}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"
common=(--arch qwen2-1.5b --rows 32 --synthetic 2048,8192 --per-length 3 ${TOK:+--tokenizer "$TOK"})
timeout 270 python3 benchmarks/run.py "${common[@]}" --attn sdpa --output "$OUT/A.md" 2>&1 | grep -v Warning | tee "$OUT/A.log" | tail -40
timeout 200 python3 benchmarks/run.py "${common[@]}" --attn flex_attention --no-naive --no-blockmask --output "$OUT/B.md" 2>&1 | grep -v Warning | tee "$OUT/B.log" | tail -40
