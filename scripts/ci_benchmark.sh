#!/usr/bin/env bash
# CI benchmark job (called by .github/workflows/benchmark.yml; runs the same on any box):
#   install -> `bench all` -> `bench report` -> `bench gate` against the committed baseline.
#
# Environment (all optional):
#   PROFILE        bench profile (default: full)
#   EXTRAS         pip extras to install (default: cuda; "cpu" on a CPU-only box; empty: skip install)
#   BASELINE_NAME  baseline file reports/baselines/<name>.json (default: gpu-runner)
#   RUN_DIR        where the run is stored (default: reports/runs/<UTC timestamp>)
#   REQUIRE_BASELINE=1  fail when the baseline file does not exist (default: pass with a notice)
# Exit code: the gate's (0 pass, 1 regression, 2 usage/data error), or 2 when the run itself could
# not be made. Cells that fail inside the run do not stop the job: the gate judges them.
set -uo pipefail
cd "$(dirname "$0")/.."

PROFILE="${PROFILE:-full}"
EXTRAS="${EXTRAS-cuda}"
BASELINE_NAME="${BASELINE_NAME:-gpu-runner}"
BASELINE="reports/baselines/${BASELINE_NAME}.json"
RUN_DIR="${RUN_DIR:-reports/runs/$(date -u +%Y%m%dT%H%M%SZ)}"
GATE_MD="reports/gate.md"

if [[ -n "$EXTRAS" ]]; then
  python -m pip install -e ".[${EXTRAS},test]" || exit 2
fi
python -m bench env || exit 2

# 0: every cell ok/skipped; 1: some cell failed (results are stored; the gate decides); else: no run.
python -m bench all --profile "$PROFILE" --out "$RUN_DIR" --no-report
all_rc=$?
if [[ $all_rc -gt 1 ]]; then
  echo "error: bench all exited with $all_rc; no usable run in $RUN_DIR" >&2
  exit 2
fi

python -m bench report --runs "$RUN_DIR" || exit 2

mkdir -p reports
if [[ -f "$BASELINE" ]]; then
  python -m bench gate --baseline "$BASELINE" --run "$RUN_DIR" --output "$GATE_MD"
  exit $?
fi
msg="No baseline ${BASELINE} yet: gate not run. Create it from this run with
\`python -m bench baseline save --run ${RUN_DIR} --name ${BASELINE_NAME}\` and commit the file."
printf '# Performance gate: no baseline\n\n%s\n' "$msg" > "$GATE_MD"
echo "$msg"
if [[ "${REQUIRE_BASELINE:-0}" == "1" ]]; then
  exit 2
fi
exit 0
