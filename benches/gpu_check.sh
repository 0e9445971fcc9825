#!/usr/bin/env bash
# The GPU check of issue 5, in one go, for a machine with an NVIDIA GPU (reference: one H200 with
# CuPy and PyTorch installed). Installs what it needs, runs the GPU tests, then the GPU benchmark.
# Sized to finish within 5 minutes (build ~1-2 min, tests ~1 min, benchmark ~2 min).
#
#   bash benches/gpu_check.sh            # results also written to $OUT (default: a temp folder)
#
# On the workplace's lent H200 (no network, no cargo): first `bash benches/gpu_wheels.sh` here,
# then run `bash benches/gpu_check.sh` there with `.whl` carried along (timeout about 420 s);
# test_gpu.txt, bench_gpu.txt and bench_gpu.json come back from $OUT.
#
# Wheels carried in the tree (a .whl/ folder) are installed offline into /tmp/site first. A machine
# without network or Rust (the reference H200) needs sgdm's own wheels there: build them where cargo
# is with `bash benches/gpu_wheels.sh` and carry `.whl/`. Without a carried sgdm wheel, sgdm is
# built from this checkout with `pip install . ./cli` (needs PyPI and cargo); SGDM_SKIP_INSTALL=1
# skips that step when sgdm is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
PY=${PYTHON:-python3}

if compgen -G ".whl/*.whl" > /dev/null; then
  echo "+ installing the carried wheels from .whl/ into /tmp/site"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi

if [ "${SGDM_SKIP_INSTALL:-0}" != 1 ] && ! compgen -G ".whl/sgdm-[0-9]*.whl" > /dev/null; then
  if ! command -v cargo > /dev/null; then
    echo "no sgdm wheel in .whl/ and no cargo here to build one: run 'bash benches/gpu_wheels.sh'" \
         "on a machine with Rust and carry .whl/" >&2
    exit 2
  fi
  echo "+ pip install . ./cli"
  "$PY" -m pip install -q . ./cli
fi
"$PY" -c "import pytest, hypothesis" 2>/dev/null || "$PY" -m pip install -q pytest hypothesis

echo "+ environment"
"$PY" - <<'PYEOF'
import sgdm, sgdm.gpu as g
print("sgdm", sgdm.__version__, "from", sgdm.__file__)
print("cupy available:", g.cupy_available(), g._probe()[1])
try:
    import torch
    print("torch", torch.__version__, "cuda:", torch.cuda.is_available())
except ImportError:
    print("torch: not installed")
PYEOF
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true

echo "+ pytest tests/test_gpu.py tests/test_hostcupy.py -v"
set +e
timeout 150 "$PY" -m pytest tests/test_gpu.py tests/test_hostcupy.py -v -rs -p no:cacheprovider 2>&1 | tee "$OUT/test_gpu.txt"
tests_rc=${PIPESTATUS[0]}

echo "+ python benches/bench_gpu.py"
timeout 180 "$PY" benches/bench_gpu.py --json "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_gpu.txt"
bench_rc=${PIPESTATUS[0]}

echo "tests exit $tests_rc, benchmark exit $bench_rc; outputs in $OUT"
exit $(( tests_rc != 0 || bench_rc != 0 ))
