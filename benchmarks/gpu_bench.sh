#!/usr/bin/env bash
# One prepared GPU check (under 10 minutes) for a machine with PyTorch and transformers but
# no network, no vLLM and no weights. Prepare on a networked machine first:
#   bash benchmarks/gpu_bench.sh prepare   # wheels of the small pure-Python deps + a tokenizer
# then on the GPU machine:
#   bash benchmarks/gpu_bench.sh           # writes $OUT/gpu_bench.json (or ./gpu_bench.json)
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=benchmarks/wheels
if [ "${1:-}" = "prepare" ]; then
    mkdir -p "$WHEELS" benchmarks/tokenizer
    python3 -m pip download --only-binary=:all: --no-deps -d "$WHEELS" \
        "mesa>=3.1,<3.4" pydantic pydantic-core annotated-types typing-inspection pyyaml \
        typer rich click shellingham markdown-it-py mdurl pygments
    python3 - <<'PY'
from pathlib import Path
from simulator.llm.smollm2 import smollm2_path
src = smollm2_path()
for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
    if (src / name).exists():
        Path("benchmarks/tokenizer", name).write_bytes((src / name).read_bytes())
PY
    du -sh "$WHEELS" benchmarks/tokenizer
    exit 0
fi
python3 -m pip install --quiet --no-index --find-links "$WHEELS" --no-deps "$WHEELS"/*.whl 2>/dev/null || true
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total --format=csv
timeout 540 python3 benchmarks/gpu_bench.py --agents 200 --steps 2 --out "${OUT:-.}/gpu_bench.json"
if python3 -c "import vllm" 2>/dev/null; then
    echo "vllm is installed: compare with --llm vllm:MODEL on the same prompts (see README)"
fi
