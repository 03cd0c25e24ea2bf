"""Summaries of repeated measurements, and the plain-text table they are printed in."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def spread(values: Sequence[float], digits: int = 2) -> str:
    """``median [min..max]`` of ``values``; the value alone if there is one, ``-`` if none."""
    if not values:
        return "-"
    middle = f"{statistics.median(values):.{digits}f}"
    if len(values) == 1:
        return middle
    return f"{middle} [{min(values):.{digits}f}..{max(values):.{digits}f}]"


def ratio(numerators: Sequence[float], denominators: Sequence[float]) -> str:
    """``2.91x``: the medians' ratio; empty when either side has no figure or a zero."""
    if not numerators or not denominators or statistics.median(denominators) == 0:
        return ""
    return f"{statistics.median(numerators) / statistics.median(denominators):.2f}x"


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank ``share`` percentile (0 < share <= 100) of ``values``."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)]


def table(rows: Sequence[Sequence[str]], align: str = "") -> str:
    """``rows`` as columns; ``align`` has an ``l`` or ``r`` per column (default: ``lrr...``).

    A row of one cell is a heading across the table.
    """
    count = max(len(row) for row in rows)
    align = align or "l" + "r" * (count - 1)
    widths = [
        max((len(row[column]) for row in rows if len(row) > 1 and column < len(row)), default=0)
        for column in range(count)
    ]
    lines = []
    for row in rows:
        if len(row) == 1:
            lines.append(row[0])
            continue
        cells = [
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(row, widths, align, strict=False)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
