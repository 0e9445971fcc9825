#!/usr/bin/env bash
# Build the wheels that benches/gpu_check.sh installs on a GPU machine that cannot reach PyPI
# (the reference H200 has CuPy, PyTorch, NumPy, pytest, hypothesis, typer and rich, but no
# network and no Rust toolchain). Run it here, where cargo and maturin are, then carry `.whl/`:
#
#   bash benches/gpu_wheels.sh && ls .whl/
#
# sgdm is built for the stable ABI (abi3, CPython >= 3.10), so one wheel serves the device's
# Python whatever its minor version; sgdm-cli is pure Python. Both are built without
# dependencies: the device already has NumPy, typer and rich.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
rm -f .whl/sgdm-[0-9]*.whl .whl/sgdm_cli-*.whl
mkdir -p .whl
"$PY" -m maturin build --release --quiet --out .whl
"$PY" -m pip wheel --quiet --no-deps --wheel-dir .whl ./cli
ls -l .whl/
