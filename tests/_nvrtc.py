"""Compile CUDA source to PTX with NVRTC through ctypes: no GPU, no driver, no CuPy needed.

Used by ``test_gpu.py`` to check the real kernel source on a CPU-only machine (it compiles, and
its PTX has no fused multiply-add). NVRTC comes from the ``nvidia-cuda-nvrtc-cu12`` (or CUDA 13) wheel
or a CUDA toolkit; :func:`find` returns ``None`` when neither is present and the tests skip.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys


def _candidates():
    for base in sys.path:
        # CUDA 12 wheels: nvidia/cuda_nvrtc/lib; CUDA 13 wheels: nvidia/cu13/lib
        for sub in (("cuda_nvrtc", "lib"), ("cu13", "lib")):
            yield from sorted(glob.glob(os.path.join(base, "nvidia", *sub, "libnvrtc.so*")))
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root:
            yield from sorted(glob.glob(os.path.join(root, "lib64", "libnvrtc.so*")))
    yield "libnvrtc.so"
    yield "libnvrtc.so.13"
    yield "libnvrtc.so.12"


def find():
    """A loaded NVRTC library, or ``None``."""
    for path in _candidates():
        if ".alt." in path:
            continue
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def compile_ptx(lib, source: str, options: list[str], name: str = "k.cu") -> str:
    """PTX of ``source``; raises ``RuntimeError`` with the compile log on failure."""
    prog = ctypes.c_void_p()
    check = _checker(lib)
    check(lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None))
    try:
        opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
        rc = lib.nvrtcCompileProgram(prog, len(options), opts)
        if rc != 0:
            size = ctypes.c_size_t()
            lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
            log = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetProgramLog(prog, log)
            raise RuntimeError(f"NVRTC compile failed ({rc}):\n{log.value.decode(errors='replace')}")
        size = ctypes.c_size_t()
        check(lib.nvrtcGetPTXSize(prog, ctypes.byref(size)))
        ptx = ctypes.create_string_buffer(size.value)
        check(lib.nvrtcGetPTX(prog, ptx))
        return ptx.value.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def _checker(lib):
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p

    def check(rc):
        if rc != 0:
            raise RuntimeError(f"NVRTC error {rc}: {lib.nvrtcGetErrorString(rc).decode()}")

    return check
