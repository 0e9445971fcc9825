"""Append-only, crash-safe record files: one row per line, JSON lines or CSV (by extension).

Every :meth:`RecordWriter.write` appends one complete line, flushes and fsyncs it, so a process
killed at any moment (even by SIGKILL) loses at most the row it was writing, and the file stays
readable: :func:`read_records` drops a torn last line (one without its newline, or that does not
parse). :func:`rewrite` replaces a whole file atomically (temporary file, fsync, rename).
:func:`lock_for_writing` keeps a second process from writing the same file at the same time.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

try:
    import fcntl
except ImportError:  # Windows: no advisory locks through fcntl
    fcntl = None  # type: ignore[assignment]

from ._sgdm import SgdmError

__all__ = ["json_safe", "record_format", "RecordWriter", "read_records", "rewrite", "atomic_write", "fsync_dir",
           "lock_for_writing"]

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}


def record_format(path: str | os.PathLike) -> str:
    """``"jsonl"`` or ``"csv"`` from the file's extension; anything else is refused."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise SgdmError(f"cannot write {path}: unknown extension {suffix!r}; use .jsonl or .csv")
    return FORMATS[suffix]


def json_safe(value: Any) -> Any:
    """Strict-JSON values, recursively: NumPy scalars to Python, NaN and ±Inf to None (null),
    tuples to lists."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _csv_cell(value: Any) -> Any:
    """A scalar as itself (inf stays inf in CSV), a list or table as its JSON text."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, (list, tuple, Mapping)):
        return json.dumps(json_safe(value))
    return value


def _line(fmt: str, row: Mapping[str, Any], fields: Sequence[str]) -> str:
    if fmt == "jsonl":
        return json.dumps(json_safe(row)) + "\n"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([_csv_cell(row.get(k, "")) for k in fields])
    return buf.getvalue()


class RecordWriter:
    """Append rows to ``path``, each one flushed and fsynced before :meth:`write` returns.

    ``append=False`` starts a new file (replacing an old one); ``append=True`` continues an
    existing file (a CSV keeps its header). CSV columns are the first row's keys.
    """

    def __init__(self, path: str | os.PathLike, append: bool = False) -> None:
        self.path = Path(path)
        self.format = record_format(self.path)
        self.fields: list[str] | None = None
        if append and self.path.exists() and self.format == "csv":
            with self.path.open(newline="") as f:
                header = f.readline()
            self.fields = next(csv.reader([header])) if header.endswith("\n") else None
        self._file = self.path.open("a" if append else "w", newline="")

    def write(self, row: Mapping[str, Any]) -> None:
        """Append one row, durably."""
        self.write_many([row])

    def write_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows with one flush and fsync (e.g. a whole finished run)."""
        for row in rows:
            if self.format == "csv" and self.fields is None:
                self.fields = list(row)
                self._file.write(_line("csv", dict(zip(self.fields, self.fields)), self.fields))
            self._file.write(_line(self.format, row, self.fields or []))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _parse_csv_value(text: str) -> Any:
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_records(path: str | os.PathLike, missing_ok: bool = False) -> list[dict[str, Any]]:
    """All complete rows of a record file; a torn last line is dropped, a bad middle line is an
    error naming the file and line. A missing file is an error, or no rows with ``missing_ok``."""
    path = Path(path)
    fmt = record_format(path)
    if missing_ok and not path.exists():
        return []
    try:
        text = path.read_text()
    except OSError as err:
        raise SgdmError(f"cannot read {path}: {err.strerror}") from None
    lines = text.split("\n")
    complete, torn = lines[:-1], lines[-1]  # text after the last newline is a torn write
    del torn
    rows: list[dict[str, Any]] = []
    if fmt == "jsonl":
        for i, line in enumerate(complete):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                if i == len(complete) - 1:
                    break  # a last line torn inside a write: drop it
                raise SgdmError(f"{path}, line {i + 1}: not a JSON record") from None
        return rows
    if not complete:
        return rows
    reader = csv.reader(complete)
    header = next(reader)
    for i, values in enumerate(reader):
        if len(values) != len(header):
            if i == len(complete) - 2:
                break
            raise SgdmError(f"{path}, line {i + 2}: {len(values)} fields, the header has {len(header)}")
        rows.append({k: _parse_csv_value(v) for k, v in zip(header, values)})
    return rows


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in ``folder`` durable (best effort where folders cannot be fsynced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """``write(tmp)`` a temporary file next to ``path``, fsync it, rename it over ``path`` and
    fsync the folder: readers and crashes see the old file or the new one, never a partial one."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(folder)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rewrite(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> None:
    """Replace ``path`` by ``rows`` atomically (see :func:`atomic_write`)."""
    fmt = record_format(path)
    rows = list(rows)
    fields: list[str] = []
    for r in rows:
        fields.extend(k for k in r if k not in fields)

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            if fmt == "csv" and rows:
                f.write(_line("csv", dict(zip(fields, fields)), fields))
            for r in rows:
                f.write(_line(fmt, r, fields))

    atomic_write(path, write)


@contextmanager
def lock_for_writing(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` while the block runs, or raise ``SgdmError`` at once
    if another process holds it (two writers would interleave or duplicate rows).

    The lock is an advisory ``flock`` on ``PATH.lock``, a file that holds the writer's process
    id and is removed on exit. Killed writers leave no stale lock: the kernel releases a
    ``flock`` with its process, and the next writer takes over the leftover file. Without
    ``fcntl`` (Windows) nothing is locked.
    """
    if fcntl is None:
        yield
        return
    lock = Path(path).with_name(Path(path).name + ".lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SgdmError(
                f"{path} is being written by another process (pid {holder}); wait for it to "
                f"finish, or write to another file"
            ) from None
        try:
            if os.path.samestat(os.fstat(fd), os.stat(lock)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder removed the file between our open and flock: start again
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.unlink(lock)  # while still locked, so no one can take over a file about to vanish
        os.close(fd)
