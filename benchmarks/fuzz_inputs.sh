#!/usr/bin/env bash
# 10,002 fuzzed inputs: 3,334 each for the CSV loader, the MovieLens-100K loader and the
# scenario parser (tests/scenarios/test_fuzz.py). Every one must load or be refused with
# one line; a traceback fails the run. From the repository root:
#   bash benchmarks/fuzz_inputs.sh
set -euo pipefail
export RECWORLD_FUZZ_EXAMPLES="${RECWORLD_FUZZ_EXAMPLES:-3334}"
start=$(date +%s)
python -m pytest -q -p no:cacheprovider tests/scenarios/test_fuzz.py -k never_tracebacks \
  --hypothesis-show-statistics
echo "fuzzed $((RECWORLD_FUZZ_EXAMPLES * 3)) inputs in $(( $(date +%s) - start )) s, no traceback"
