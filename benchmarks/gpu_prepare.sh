#!/usr/bin/env bash
# Prepare, on this machine, what benchmarks/gpu_run.sh needs on a device machine that has PyTorch and transformers
# but no network: the pure-Python packages it lacks as wheels in .whl/ (Python 3.12, manylinux), and the embedded
# student's tokenizer in .gpu/tokenizer. Both paths are git-ignored through .git/info/exclude; carry them:
#   bash benchmarks/gpu_prepare.sh
#   run(command="OUT=$OUT bash benchmarks/gpu_run.sh .gpu/tokenizer", carry=[".whl", ".gpu"])
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
mkdir -p .git/info && touch .git/info/exclude
for path in /.whl/ /.gpu/; do grep -qxF "$path" .git/info/exclude || echo "$path" >> .git/info/exclude; done
rm -rf .whl && mkdir -p .whl .gpu
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 pysbd==0.3.4 pyarrow==26.0.1
"$PY" -c "
from transformers import AutoTokenizer
from hf_localnat.scoring.models import convert_embedded_model
AutoTokenizer.from_pretrained(convert_embedded_model()).save_pretrained('.gpu/tokenizer')"
du -sh .whl .gpu
