#!/usr/bin/env bash
# framebench's first evidence from a CUDA machine, in ONE command of at most 9 minutes (for a person with
# 15 minutes on a GPU). Runs from the repository root with PYTHONPATH (no pip install -e):
#
#   bash scripts/gpu_evidence.sh [WHEELS_DIR]
#
# WHEELS_DIR (or FB_WHEELS): wheels for a machine that has torch but not pydantic (pydantic, pydantic-core,
# annotated-types, typing-inspection, typing-extensions); they are copied into the git-ignored
# .gpu_wheels/ and installed there with `pip --no-index --target`, only when pydantic does not import.
#
# Phases, the most informative first, each under `timeout` so that packing always runs inside the
# budget FB_BUDGET_S (default 500 s):
#   P0 environment  versions, nvidia-smi
#   P1 preflight    torch APIs the CUDA paths call, TF32 numerics, NVML accounting (scripts/gpu_preflight.py)
#   P2 roofline     python -m bench.host.roofline --device cuda (copied into every run)
#   P3 eager        every model, torch eager, fp32/bf16/fp16
#   P4 graphs       one GAN (dcgan-mnist) in fp16: compile and reduce-overhead (GradScaler, CUDA graphs)
#   P5 autotune     one model (dcgan-mnist) fp32 max-autotune
#   P6 pytest       python -m pytest -m cuda tests/test_cuda_gpu.py
# Without CUDA every CUDA phase says so and is skipped, and one tiny CPU cell runs instead (so the
# pipeline and the archive are checked anywhere; tests/test_gpu_evidence_script.py runs it in CI).
# Every run is `python -m bench all --profile gpu --repeats 1 --frameworks torch` with --out under the
# work directory. Out ($OUT, default /tmp/fb_out): gpu_evidence.tar.gz (every run directory, the
# preflight, pytest and nvidia-smi text), summary.txt (one line per process), gpu_evidence.log.
# FB_TINY=1 shrinks every run to a few steps at batch 4 (a test of the script, not a measurement).
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
T0=$(date +%s)
BUDGET=${FB_BUDGET_S:-500}
OUTDIR=${OUT:-/tmp/fb_out}
W=${FB_WORK:-$(mktemp -d /tmp/fb_evidence.XXXXXX)}
WHEELS=${1:-${FB_WHEELS:-}}
PY=${PYTHON:-python3}
mkdir -p "$OUTDIR" "$W/runs"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

elapsed() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( BUDGET - $(elapsed) )); }
# cap MAX RESERVE: the seconds a phase may take now, keeping RESERVE for what follows (< 20: skip it)
cap() { local l=$(( $(left) - $2 )); (( l > $1 )) && l=$1; echo "$l"; }
phase() { echo; echo "=== [$(elapsed)s, $(left)s left] $*"; }

install_wheels() {
  "$PY" -c "import pydantic" 2>/dev/null && return 0
  if [ -z "$WHEELS" ]; then echo "pydantic is missing: pass the wheels folder (bash $0 WHEELS_DIR)"; return 1; fi
  mkdir -p "$ROOT/.gpu_wheels/site" && cp "$WHEELS"/*.whl "$ROOT/.gpu_wheels/" \
    && "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$ROOT/.gpu_wheels/site" \
       "$ROOT"/.gpu_wheels/*.whl \
    && export PYTHONPATH="$ROOT/.gpu_wheels/site:$PYTHONPATH" \
    && "$PY" -c "import pydantic" && echo "pydantic installed from $WHEELS into .gpu_wheels/site"
}

TINY=()
[ "${FB_TINY:-0}" = 1 ] && TINY=(--steps 2 --warmup 1 --window-steps 2 --batch-size 4)

bench_run() {  # NAME CAP TIME_LIMIT FILTERS...: one `bench all` run under `timeout -s INT` (kept when cut)
  local name=$1 c=$2 tl=$3; shift 3
  if (( c < 20 )); then echo "SKIP $name: only ${c}s left in the budget"; return 0; fi
  phase "$name (cap ${c}s): $*"
  local dir="$W/runs/$name"
  mkdir -p "$dir"
  [ -s "$W/roofline.json" ] && cp "$W/roofline.json" "$dir/roofline.json"
  timeout -k 15 -s INT "$c" "$PY" -m bench all --profile gpu --repeats 1 --frameworks torch --no-report \
    --time-limit "$tl" "${TINY[@]}" "$@" --out "$dir"
  echo "rc=$? ($name)"
}

main() {
  phase "P0 environment"
  install_wheels || echo "WARNING: bench needs pydantic; the runs below will fail"
  "$PY" - <<'PY' 2>&1 | tee "$W/versions.txt"
import importlib.metadata as md
import platform
print("python", platform.python_version())
for name in ("torch", "triton", "numpy", "pandas", "scipy", "psutil", "nvidia-ml-py", "pydantic", "pytest",
             "tensorflow"):
    try:
        print(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        print(f"{name}: not installed")
PY
  CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
  echo "CUDA device: $([ "$CUDA" = 1 ] && echo yes || echo 'no: the CUDA phases are skipped')"
  if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,power.draw,temperature.gpu \
      --format=csv > "$W/nvidia-smi-before.txt" 2>&1
    cat "$W/nvidia-smi-before.txt"
  fi

  phase "P1 preflight"
  timeout -k 5 "$(cap 90 60)" "$PY" scripts/gpu_preflight.py "$W/preflight.json"
  echo "preflight rc=$?"

  phase "P2 roofline"
  if [ "$CUDA" = 1 ]; then
    timeout -k 5 "$(cap 90 60)" "$PY" -m bench.host.roofline --device cuda > "$W/roofline.out" 2> "$W/roofline.err"
    echo "roofline rc=$?"
    "$PY" - "$W" <<'PY'
import json
import sys
w = sys.argv[1]
lines = [s for s in open(f"{w}/roofline.out").read().splitlines() if s.strip().startswith("{")]
d = json.loads(lines[-1]) if lines else {}
print("roofline:", {k: d.get(k) for k in ("peak_flops", "peak_flops_by_precision", "bandwidth_bytes_s", "error")})
if d.get("peak_flops"):
    open(f"{w}/roofline.json", "w").write(json.dumps(d))
PY
  else
    echo "SKIP roofline: needs CUDA"
  fi

  if [ "$CUDA" = 1 ]; then
    bench_run eager "$(cap 150 330)" 200 --devices cuda --modes eager --precisions fp32 bf16 fp16 \
      --variants default
    bench_run graphs "$(cap 150 200)" 300 --devices cuda --models dcgan-mnist --modes compile reduce-overhead \
      --precisions fp16 --variants default
    bench_run autotune "$(cap 200 110)" 300 --devices cuda --models dcgan-mnist --modes max-autotune \
      --precisions fp32 --variants default
  else
    echo; echo "SKIP P3 eager, P4 graphs, P5 autotune: they need CUDA"
    bench_run cpu-check "$(cap 120 45)" 120 --devices cpu --models vae-mnist --modes eager --precisions fp32 \
      --variants default
  fi

  phase "P6 pytest -m cuda$([ "$CUDA" = 1 ] || echo ' (no CUDA: every test skips)')"
  c=$(cap 180 15)
  if (( c >= 20 )); then
    timeout -k 5 "$c" "$PY" -m pytest -q -o addopts=-ra -p no:cacheprovider -m cuda tests/test_cuda_gpu.py \
      > "$W/pytest.txt" 2>&1
    echo "pytest rc=$?"; tail -15 "$W/pytest.txt"
  else
    echo "SKIP pytest: ${c}s left"
  fi

  phase "pack"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.used,clocks.sm,power.draw \
    --format=csv > "$W/nvidia-smi-after.txt" 2>&1
  "$PY" scripts/gpu_summary.py "$W/runs" "$W/summary.txt" > /dev/null 2>&1 || echo "(summary failed)"
  cp "$W/summary.txt" "$OUTDIR/" 2>/dev/null
  (cd "$W" && tar czf "$OUTDIR/gpu_evidence.tar.gz" --exclude='inductor-cache-*' --exclude='triton-cache-*' \
    runs $(ls -- *.json *.txt *.out *.err 2>/dev/null))
  echo "archive: $OUTDIR/gpu_evidence.tar.gz ($(du -h "$OUTDIR/gpu_evidence.tar.gz" | cut -f1))"
  echo; echo "=== summary [$(elapsed)s]"
  cat "$W/summary.txt" 2>/dev/null || echo "(no summary)"
}

main 2>&1 | tee "$OUTDIR/gpu_evidence.log"
exit 0
