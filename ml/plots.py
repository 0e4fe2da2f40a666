"""Saving figures under the reports folder (``TrainOptions.reports_dir``): matplotlib → PNG,
plotly → offline HTML.

Figures of a family live in ``<reports_dir>/figures/<family>/<protocol>/<name>.<ext>``, so
each materialization overwrites the previous figure of the same model (the ml.artifacts
row of every run keeps the path). Plotly pages share one ``plotly.min.js`` written beside
them, so they open without a network.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: figures are files

import matplotlib.pyplot as plt  # noqa: E402


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
    """Save a matplotlib figure as PNG and close it (frees memory in long runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_html(fig, path: Path) -> Path:
    """Save a plotly figure as a self-contained-offline HTML page (plotly.min.js beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs="directory", full_html=True)
    return path
