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

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
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
) -> "FittedTable":
    """A rich table of ``rows`` showing ``columns`` given as (key, header) pairs (see
    :class:`FittedTable`)."""
    return FittedTable(title, rows, columns, caption)


class FittedTable:
    """A table that fits the page without cutting a cell: numbers stay whole and text wraps
    between words. When even that is too wide (many columns on a narrow terminal), it is
    printed as several tables of consecutive columns, each repeating the first column (the
    row's name). Left to itself, rich shaves every column instead: ``1,024`` printed as ``1,0``,
    narrow text columns gone."""

    def __init__(
        self,
        title: str,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[tuple[str, str]],
        caption: str | None = None,
    ) -> None:
        self.title, self.caption = title, caption
        self.headers = [header for _, header in columns]
        self.cells = [[format_cell(r.get(key)) for key, _ in columns] for r in rows]
        self.numeric = [
            any(isinstance(json_safe(r.get(key)), (int, float)) and not isinstance(r.get(key), bool) for r in rows)
            for key, _ in columns
        ]
        # The narrowest and widest each column can be printed: numbers whole, text and headers
        # down to their longest word.
        self.spans: list[tuple[int, int]] = []
        for j, header in enumerate(self.headers):
            texts = [row[j] for row in self.cells]
            narrowest = [cell_len(t) if self.numeric[j] else _longest_word(t) for t in texts]
            self.spans.append((max([_longest_word(header), *narrowest]), max(map(cell_len, [header, *texts]))))

    def _min_width(self, picked: Sequence[int]) -> int:
        # Borders, and one space of padding either side of every column.
        return sum(self.spans[j][0] for j in picked) + 3 * len(picked) + 1

    def parts(self, width: int) -> list[list[int]]:
        """The columns of each table printed on a page ``width`` characters wide."""
        everything = list(range(len(self.headers)))
        if self._min_width(everything) <= width or len(everything) <= 2:
            return [everything]

        def fill(most: int) -> list[list[int]]:
            parts = [[0]]
            for j in everything[1:]:
                if len(parts[-1]) > 1 and (len(parts[-1]) > most or self._min_width([*parts[-1], j]) > width):
                    parts.append([0])
                parts[-1].append(j)
            return parts

        # As few tables as fit, with about as many columns each (no stub of a last table).
        return fill(-(-(len(everything) - 1) // len(fill(len(everything)))))

    def _table(self, picked: Sequence[int], width: int, title: str, caption: str | None) -> Table:
        widths = [self.spans[j][1] for j in picked]
        while self._min_width([]) + sum(widths) + 3 * len(picked) > width:
            # Narrow the widest column that can still wrap, as rich does, but never below its
            # narrowest.
            shrinkable = [k for k, j in enumerate(picked) if widths[k] > self.spans[j][0]]
            if not shrinkable:
                break
            widths[max(shrinkable, key=lambda k: widths[k])] -= 1
        t = Table(title=title, caption=caption, header_style="bold cyan", title_style="bold")
        for j, w in zip(picked, widths):
            t.add_column(self.headers[j], justify="right" if self.numeric[j] else "left", overflow="fold", width=w)
        for row in self.cells:
            t.add_row(*(row[j] for j in picked))
        return t

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        parts = self.parts(options.max_width)
        for i, picked in enumerate(parts):
            title = self.title if len(parts) == 1 else f"{self.title} ({i + 1}/{len(parts)})"
            yield self._table(picked, options.max_width, title, self.caption if i == len(parts) - 1 else None)


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


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


def check_folder(path: Path, what: str) -> None:
    """Fail before any work if ``path`` cannot be, or be made, a writable folder."""
    existing = path
    while not existing.exists() and existing != existing.parent:  # what mkdir -p would create
        existing = existing.parent
    if not existing.is_dir():
        raise OSError(f"cannot write {what} to {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise OSError(f"cannot write {what} to {path}: permission denied")
