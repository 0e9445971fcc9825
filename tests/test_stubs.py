"""The hand-written stub of the native module matches the built binary (mypy's stubtest)."""

import subprocess
import sys

import pytest

pytest.importorskip("mypy.stubtest", reason="mypy is not installed (pip install '.[test]')")


def test_native_stub_matches_the_binary(tmp_path):
    # Run outside the source tree, so that the installed package is the one checked.
    result = subprocess.run([sys.executable, "-m", "mypy.stubtest", "sgdm._sgdm"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
