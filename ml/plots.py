"""Saving figures under the reports folder (``TrainOptions.reports_dir``): matplotlib → PNG,
plotly → offline HTML.

Figures of a family live in ``<reports_dir>/figures/<family>/<protocol>/<name>.<ext>``, so
each materialization overwrites the previous figure of the same model (the ml.artifacts
row of every run keeps the path). Plotly pages share one ``plotly.min.js`` written beside
them, so they open without a network.

Every file is written with :mod:`tunehouse.files` (a temporary name beside it, then an
atomic move), so a run that fails half-way never leaves a truncated figure in place of the
previous good one.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: figures are files

import matplotlib.pyplot as plt  # noqa: E402

from tunehouse import files  # noqa: E402

#: The plotly.js bundle plotly's "directory" mode links to, beside each HTML figure.
PLOTLY_JS = "plotly.min.js"


def reports_dir(base: Path | str) -> Path:
    """The reports folder, created if needed."""
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def figure_path(base: Path | str, family: str, protocol: str, name: str, ext: str = "png") -> Path:
    """Where a figure goes (``<base>/figures/<family>/<protocol>/<name>.<ext>``); the folder is created."""
    folder = reports_dir(base) / "figures" / family / str(protocol)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.{ext}"


def new_figure(width: float = 7.0, height: float = 4.5):
    """A matplotlib figure and axes (the figure is closed by save_png)."""
    return plt.subplots(figsize=(width, height))


def save_png(fig, path: Path) -> Path:
    """Save a matplotlib figure as PNG (atomically) and close it (frees memory in long runs)."""
    try:
        fig.tight_layout()
        with files.atomic_open(path, "wb") as handle:
            fig.savefig(handle, format="png", dpi=110)
    finally:
        plt.close(fig)  # also when saving failed: a long run must not pile up open figures
    return path


def save_html(fig, path: Path) -> Path:
    """Save a plotly figure as an offline HTML page, with ``plotly.min.js`` beside it.

    The page and the bundle are both written atomically (plotly's own ``write_html`` writes
    them in place); the bundle is written only when the folder has none yet, as plotly does.
    """
    page = fig.to_html(include_plotlyjs="directory", full_html=True)
    bundle = Path(path).parent / PLOTLY_JS
    if not bundle.exists():
        from plotly.offline import get_plotlyjs

        files.write_text(bundle, get_plotlyjs())
    return files.write_text(path, page)


def save_text(text: str, path: Path) -> Path:
    """Save a text artifact (e.g. a statsmodels summary), atomically."""
    return files.write_text(path, text)
