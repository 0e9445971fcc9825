"""One way to show rows: a rich table on stdout, or the same numbers as JSON.

Chatter and progress go to stderr (``console_err``); results go to stdout (``console_out``), so
``sgdm ... --json | jq`` always sees clean JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from rich.console import Console
from rich.table import Table

from sgdm.records import json_safe


def _width(stream) -> int | None:
    """The terminal's width, or a wide page when the output is a file or a pipe."""
    return None if stream.isatty() else max(shutil.get_terminal_size((160, 24)).columns, 160)


console_out = Console(width=_width(sys.stdout))
console_err = Console(stderr=True, width=_width(sys.stderr))


def plus_minus(mean: Any, std: Any) -> str:
    """``mean ± std`` for a value measured over seeds."""
    mean, std = json_safe(mean), json_safe(std)
    if mean is None:
        return "—"
    return f"{format_cell(mean)} ± {std:.2g}" if std else format_cell(mean)


def format_cell(value: Any) -> str:
    value = json_safe(value)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0.0:
            return "0"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 1e5 or abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(
    title: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    caption: str | None = None,
) -> Table:
    """A rich table of ``rows`` showing ``columns`` given as (key, header) pairs."""
    t = Table(title=title, caption=caption, header_style="bold cyan", title_style="bold")
    for key, header in columns:
        numeric = any(isinstance(json_safe(r.get(key)), (int, float)) and not isinstance(r.get(key), bool) for r in rows)
        t.add_column(header, justify="right" if numeric else "left", overflow="fold",
                     no_wrap=numeric)
    for r in rows:
        t.add_row(*(format_cell(r.get(key)) for key, _ in columns))
    return t


def emit_json(payload: Any) -> None:
    """Print ``payload`` as JSON on stdout (no colour, no wrapping)."""
    print(json.dumps(json_safe(payload), indent=2))


def check_writable(path: Path) -> None:
    """Fail before any work if ``path`` cannot be written (missing folder, no permission)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OSError(f"cannot write {path}: folder {folder} does not exist")
    if path.is_dir():
        raise OSError(f"cannot write {path}: it is a folder")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OSError(f"cannot write {path}: permission denied")
