"""Crash-safe checkpoints of a training run: one file, replaced atomically.

A checkpoint folder holds ``checkpoint.npz``: the parameters and momentum buffers as arrays and
everything else (the run's settings, clock, optimizer hyperparameters, the shuffle generator's
state, the history so far) as one JSON document. It is written to a temporary file in the same
folder, flushed and fsynced, then renamed over the previous checkpoint and the folder fsynced, so
a machine that dies at any moment leaves either the old or the new checkpoint, never a torn one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ._sgdm import SgdmError
from .records import atomic_write

__all__ = ["CHECKPOINT_FILE", "save", "load", "exists"]

CHECKPOINT_FILE = "checkpoint.npz"


def save(folder: str | os.PathLike, state: Mapping[str, Any], settings: Mapping[str, Any] | None = None) -> Path:
    """Write ``state`` (from ``engine.run_state``) and the run's ``settings`` to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    optimizer = dict(state["optimizer"])
    buffers = optimizer.pop("momentum_buffers")
    arrays = {f"param_{i}": p for i, p in enumerate(state["params"])}
    arrays.update({f"momentum_{i}": m for i, m in enumerate(buffers)})
    meta = {k: v for k, v in state.items() if k not in ("params", "optimizer")}
    meta["optimizer"] = optimizer
    meta["n_params"] = len(state["params"])
    meta["settings"] = dict(settings or {})
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)

    atomic_write(folder / CHECKPOINT_FILE, write)
    return folder / CHECKPOINT_FILE


def exists(folder: str | os.PathLike) -> bool:
    return (Path(folder) / CHECKPOINT_FILE).is_file()


def load(folder: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a checkpoint folder: (state for ``engine.train(resume=...)``, settings)."""
    path = Path(folder) / CHECKPOINT_FILE
    if not path.is_file():
        raise SgdmError(f"no checkpoint in {folder}: {CHECKPOINT_FILE} not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            n = int(meta.pop("n_params"))
            params = [z[f"param_{i}"] for i in range(n)]
            buffers = [z[f"momentum_{i}"] for i in range(n)]
    except (OSError, ValueError, KeyError) as err:
        raise SgdmError(f"checkpoint {path} is unreadable: {err}") from None
    settings = meta.pop("settings")
    optimizer = meta.pop("optimizer")
    optimizer["momentum_buffers"] = buffers
    state = dict(meta, params=params, optimizer=optimizer)
    return state, settings
