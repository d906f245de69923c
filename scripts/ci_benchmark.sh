#!/usr/bin/env bash
# CI benchmark job (called by .github/workflows/benchmark.yml; runs the same on any box):
#   [install] -> `bench all` -> `bench report` -> `bench gate` against the BASE branch's baseline and
#   thresholds (docs/ci-gpu.md explains why, and how to set the runner up).
#
# Environment (all optional):
#   PROFILE        bench profile (default: full)
#   DEVICES        devices to measure (default: cuda)
#   EXTRAS         pip extras to install into this interpreter (default: empty: the runner's pinned
#                  environments are used as they are; "cpu" on a CPU-only box)
#   TF_PYTHON      interpreter of the pinned TensorFlow environment (--python tensorflow=...)
#   TORCH_PYTHON   interpreter of the pinned PyTorch environment (--python torch=...)
#   BASE_DIR       a checkout of the base branch: the baseline and [tool.framebench.gate] come from it,
#                  never from the change under test (default: this checkout, e.g. on main)
#   BASELINE_NAME  baseline file <BASE_DIR>/reports/baselines/<name>.json (default: gpu-runner)
#   CONFIRM        re-run each flagged cell in this many fresh processes before failing (default: 2)
#   RUN_DIR        where the run is stored (default: reports/runs/<UTC timestamp>)
#   REQUIRE_BASELINE=1  fail when the baseline file does not exist (default: pass with a notice)
#   AB_BASE_REV    a git revision (a PR's base): instead of the history gate, an A/B run (`bench compare`)
#                  of that revision's code (side A) against this checkout (side B), in one job; side A
#                  uses BASE_TF_PYTHON / BASE_TORCH_PYTHON when set (a dependency upgrade), else the same
#                  interpreters; exit 1 when a cell is slower by more than AB_FAIL_ON (default 5%)
# Exit code: the gate's (0 pass, 1 regression, 2 usage or data error), or 2 when the run itself could
# not be made. Cells that fail inside the run do not stop the job: the gate judges them.
set -uo pipefail
cd "$(dirname "$0")/.."

PROFILE="${PROFILE:-full}"
DEVICES="${DEVICES:-cuda}"
EXTRAS="${EXTRAS-}"
BASE_DIR="${BASE_DIR:-.}"
BASELINE_NAME="${BASELINE_NAME:-gpu-runner}"
BASELINE="${BASE_DIR}/reports/baselines/${BASELINE_NAME}.json"
CONFIG="${BASE_DIR}/pyproject.toml"
CONFIRM="${CONFIRM:-2}"
RUN_DIR="${RUN_DIR:-reports/runs/$(date -u +%Y%m%dT%H%M%SZ)}"
GATE_MD="reports/gate.md"

if [[ -n "$EXTRAS" ]]; then
  python -m pip install -e ".[${EXTRAS},test]" || exit 2
fi
PYTHONS=()
[[ -n "${TF_PYTHON:-}" ]] && PYTHONS+=(--python "tensorflow=${TF_PYTHON}")
[[ -n "${TORCH_PYTHON:-}" ]] && PYTHONS+=(--python "torch=${TORCH_PYTHON}")
python -m bench env "${PYTHONS[@]}" || exit 2

if [[ -n "${AB_BASE_REV:-}" ]]; then
  SIDES=(--rev-a "$AB_BASE_REV")
  [[ -n "${TF_PYTHON:-}" ]] && SIDES+=(--python-a "tensorflow=${BASE_TF_PYTHON:-$TF_PYTHON}" --python-b "tensorflow=${TF_PYTHON}")
  [[ -n "${TORCH_PYTHON:-}" ]] && SIDES+=(--python-a "torch=${BASE_TORCH_PYTHON:-$TORCH_PYTHON}" --python-b "torch=${TORCH_PYTHON}")
  mkdir -p reports
  python -m bench compare --profile "$PROFILE" --devices $DEVICES "${SIDES[@]}" --out "$RUN_DIR" \
    --fail-on "${AB_FAIL_ON:-5%}" --report "$GATE_MD"
  exit $?
fi

# 0: every cell ok/skipped; 1: some cell failed (results are stored; the gate decides); else: no run.
python -m bench all --profile "$PROFILE" --devices $DEVICES "${PYTHONS[@]}" --out "$RUN_DIR" --no-report
all_rc=$?
if [[ $all_rc -gt 1 ]]; then
  echo "error: bench all exited with $all_rc; no usable run in $RUN_DIR" >&2
  exit 2
fi

python -m bench report --runs "$RUN_DIR" || exit 2

mkdir -p reports
if [[ -f "$BASELINE" ]]; then
  python -m bench gate --baseline "$BASELINE" --config "$CONFIG" --run "$RUN_DIR" --output "$GATE_MD" \
    --confirm "$CONFIRM" --confirm-dir reports/confirmations
  exit $?
fi
msg="No baseline ${BASELINE} yet: gate not run. On the main branch, create it from this run (and later
runs) with \`python -m bench baseline save --run ${RUN_DIR} --name ${BASELINE_NAME} --append\` and commit it."
printf '# Performance gate: no baseline\n\n%s\n' "$msg" > "$GATE_MD"
echo "$msg"
if [[ "${REQUIRE_BASELINE:-0}" == "1" ]]; then
  exit 2
fi
exit 0
