"""The MTTR trend chart of the council page: a PNG (matplotlib, Agg) to embed as a data: URI.

A PNG and not inline SVG: matplotlib's SVG spells every glyph as a path (large, and not text
anyway), while a PNG of a few tens of kB looks the same in every browser and mail client the
page is forwarded to, keeps the page one self-contained file, and is what matplotlib's Agg
backend makes without a display. matplotlib is imported only when a chart is drawn.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from matplotlib.axes import Axes


@dataclass(frozen=True)
class Point:
    """One run on the chart: when it started, MTTR and MTTD in scenario seconds (None: none)."""

    scenario: str
    started: datetime
    mttr: float | None
    mttd: float | None
    manual: bool


def trend_png(points: Sequence[Point], *, width: float = 11.6, height: float = 5.6) -> bytes:
    """MTTR (top) and MTTD (bottom) over time, a line per scenario and mode.

    Runs without a value (not restored, not detected) are red crosses along the top of a panel.
    """
    from harness.extras import require

    require("matplotlib", "reports", "the council page's MTTR/MTTD trend chart")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    _panel(top, points, lambda p: p.mttr, "MTTR, s", "not restored")
    _panel(bottom, points, lambda p: p.mttd, "MTTD, s", "not detected")
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]  # untyped in matplotlib 3.11
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    bottom.set_xlabel("run start (UTC); durations in scenario time")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.subplots_adjust(left=0.07, right=0.76, top=0.97, bottom=0.1, hspace=0.12)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _panel(
    ax: Axes,
    points: Sequence[Point],
    value: Callable[[Point], float | None],
    label: str,
    missing: str,
) -> None:
    """One KPI over time: a line per scenario and mode, crosses on top for the runs with none."""
    present = [v for p in points if (v := value(p)) is not None]
    ceiling = max(present, default=0.0) * 1.15 or 1.0
    for (scenario, manual), series in _series(points).items():
        shown = [(p.started, v) for p in series if (v := value(p)) is not None]
        ax.plot(
            _times([t for t, _ in shown]),
            [v for _, v in shown],
            linestyle="--" if manual else "-",
            marker="s" if manual else "o",
            markersize=5,
            linewidth=1.5,
            label=f"{scenario} (manual)" if manual else scenario,
        )
    lost = [p.started for p in points if value(p) is None]
    if lost:
        ax.scatter(_times(lost), [ceiling] * len(lost), marker="x", color="#c62828", s=50)
        ax.annotate(
            missing,
            (0, ceiling),
            xycoords=("axes fraction", "data"),
            xytext=(6, 3),
            textcoords="offset points",
            color="#c62828",
            fontsize="small",
            va="bottom",
        )
    ax.set_ylim(bottom=0, top=ceiling * 1.1)
    ax.set_ylabel(label)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)


def _times(times: Sequence[datetime]) -> npt.NDArray[np.datetime64]:
    """UTC times as numpy datetimes (naive, in UTC), which matplotlib's date axis takes."""
    import numpy as np

    return np.array([t.astimezone(UTC).replace(tzinfo=None) for t in times], dtype="datetime64[ms]")


def _series(points: Sequence[Point]) -> dict[tuple[str, bool], list[Point]]:
    """Points by (scenario, manual), each in time order, scenarios sorted by name."""
    grouped: dict[tuple[str, bool], list[Point]] = {}
    for point in sorted(points, key=lambda p: (p.scenario, p.manual, p.started)):
        grouped.setdefault((point.scenario, point.manual), []).append(point)
    return grouped


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI, for an ``<img src>`` that needs no other file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
