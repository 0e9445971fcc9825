"""The hand-written stub of the native module matches the built binary (mypy's stubtest), and
the package and the CLI type-check (mypy, configured in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy.stubtest", reason="mypy is not installed (pip install '.[test]')")


def test_native_stub_matches_the_binary(tmp_path):
    # Run outside the source tree, so that the installed package is the one checked.
    result = subprocess.run([sys.executable, "-m", "mypy.stubtest", "sgdm._sgdm"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_and_cli_type_check(tmp_path):
    # [tool.mypy] in pyproject.toml names the files, the target Python and the untyped imports;
    # a fresh cache keeps the run independent of earlier ones (about 15 s).
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "pyproject.toml",
                             "--cache-dir", str(tmp_path / "mypy_cache")], cwd=root,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
