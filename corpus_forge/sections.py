"""Building blocks of the run report: a :class:`Section`, and HTML tables, CSV tables and embedded images.

A step offers its part of ``report.html`` by overriding :meth:`corpus_forge.stage.Stage.report_section`, which
gets the step's output folder and its ``stats.json`` and returns a :class:`Section` (or None)::

    @staticmethod
    def report_section(step_dir, stats):
        return Section("Tokenizer", table(["figure", "value"], [["vocab", stats["vocab_size"]]]))

Everything here escapes what it is given and reads through fsspec (a run on object storage reports too).
Images are embedded as ``data:`` URLs, so the page stays one self-contained file.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from corpus_forge.io import is_file, read_bytes, read_text


@dataclass(frozen=True)
class Section:
    """One part of the report: a heading and its HTML body (tables, images, paragraphs)."""

    title: str
    html: str


def esc(value: Any) -> str:
    return html.escape(str(value))


def table(header: Sequence[Any], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    """An HTML table; cells are escaped (numbers right-aligned)."""
    def cell(tag: str, value: Any) -> str:
        num = isinstance(value, (int, float)) and not isinstance(value, bool)
        return f'<{tag} class="num">{esc(value)}</{tag}>' if num else f"<{tag}>{esc(value)}</{tag}>"

    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    head = "".join(cell("th", h) for h in header)
    body = "".join("<tr>" + "".join(cell("td", c) for c in r) + "</tr>" for r in rows)
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def read_csv(path: str) -> list[dict[str, str]]:
    """The rows of a CSV file (a header line, then one row per line) as dicts of strings."""
    return list(csv.DictReader(io.StringIO(read_text(path))))


def number(value: Any) -> float | None:
    """A CSV cell as a float (None when empty or not a number)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def fmt(value: Any, digits: int = 4) -> str:
    """An integer (or a string of one) as ``1,234``, another number with ``digits`` decimals, anything else
    as it is (None as empty)."""
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    if isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip())):
        return f"{int(value):,}"
    x = number(value)
    return str(value) if x is None else f"{x:.{digits}f}"


def csv_table(path: str, columns: Sequence[str] | None = None, labels: dict[str, str] | None = None,
              formats: dict[str, Callable[[Any], str]] | None = None, caption: str = "",
              rows: list[dict[str, str]] | None = None) -> str:
    """An HTML table of a CSV file: ``columns`` (default: all, in file order; absent ones are left out),
    headers renamed by ``labels``, cells formatted by ``formats`` (default :func:`fmt`). ``rows`` may give
    the rows already read (or sorted). Empty string when the file has no rows."""
    rows = read_csv(path) if rows is None else rows
    if not rows:
        return ""
    present = list(rows[0])
    cols = [c for c in (columns or present) if c in present]
    labels, formats = labels or {}, formats or {}
    return table([labels.get(c, c) for c in cols],
                 [[formats.get(c, fmt)(r.get(c)) for c in cols] for r in rows], caption)


def img(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG embedded (a ``data:`` URL)."""
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def file_img(path: str, alt: str) -> str:
    """:func:`img` of a PNG file (local or fsspec URL); empty string when there is none."""
    return img(read_bytes(path), alt) if is_file(path) else ""


def plt() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt().close(fig)
    return buf.getvalue()
