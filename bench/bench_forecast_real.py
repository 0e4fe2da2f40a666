"""The growth forecasts' real test (issue #14, item 4): Kaggle-time counts → the real later snapshot.

The real Kaggle CSV goes through the real ingest and the dbt models (marts.track_features);
each video's later count is forecast from its Kaggle-time row and compared with
../shared/data/youtube_later_counts.csv (a real later snapshot, date unknown) against both
baselines (ml.forecasting.forecast_later_counts; the design: docs/forecasting.md). Prints
the figures of docs/forecasting.md. Skips, saying why, when the real data is absent.

Run: .venv/bin/python -m bench.bench_forecast_real
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import REAL_DATA_DIR, machine

LATER_CSV = REAL_DATA_DIR / "youtube_later_counts.csv"
KAGGLE_CSV = REAL_DATA_DIR / "spotify_youtube.csv"


def missing() -> str | None:
    """Why the real test cannot run (None: it can)."""
    for path in (KAGGLE_CSV, LATER_CSV):
        if not path.exists():
            return f"{path} not present (the real data lives in ../shared/data beside the repository)"
    return None


def read_later(path: Path = LATER_CSV):
    """The later snapshot: video_id, view_count (parsed with the csv module)."""
    import pandas as pd

    with path.open(encoding="utf-8", newline="") as fh:
        rows = [(r["video_id"], int(r["view_count"])) for r in csv.DictReader(fh) if r["view_count"]]
    return pd.DataFrame(rows, columns=["video_id", "view_count"])


def kaggle_features(folder: Path, csv_path: Path = KAGGLE_CSV):
    """marts.track_features of the real CSV, through the real ingest and dbt (no crawl)."""
    import duckdb

    from ingestion.kaggle_csv import ingest_csv
    from orchestration.dbt import run_dbt

    warehouse = folder / "real.duckdb"
    ingest_csv(csv_path, warehouse)
    run_dbt(["seed"], warehouse)
    run_dbt(["run", "--select", "+track_features"], warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("SELECT * FROM marts.track_features ORDER BY track_id").df()


def _fmt(values, pct=False) -> str:
    v, lo, hi = values
    f = (lambda x: f"{x:.1%}") if pct else (lambda x: f"{x:.4f}")
    return f"{f(v)} [{f(lo)}, {f(hi)}]"


def main() -> None:
    reason = missing()
    if reason:
        print(f"skipped: {reason}")
        return
    from ml.forecasting import BASELINES, LABELS, METHODS, MODEL, NOMINAL, forecast_later_counts

    folder = Path(tempfile.mkdtemp(prefix="bench-forecast-real-"))
    try:
        t0 = time.perf_counter()
        features = kaggle_features(folder)
        t_data = time.perf_counter() - t0
        t0 = time.perf_counter()
        test = forecast_later_counts(features, read_later(), seed=42)
        t_fit = time.perf_counter() - t0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = test.rows
    print(f"{machine()}; ingest + dbt {t_data:.0f} s, forecast + bootstrap {t_fit:.0f} s")
    print(f"videos matched: {test.matched}; calibration half: {len(test.calibration_videos)} videos; scored half: "
          f"{len(rows)} videos in {rows['track_group_id'].nunique()} track groups")
    print(f"fitted horizon constant: median ln growth of the calibration half = {test.scale:.4f} "
          f"(×{__import__('math').exp(test.scale):.4f})")
    print("95 % intervals: percentile bootstrap over the scored half's track groups (1000 replicates)\n")
    print(f"| method | median abs log error | Spearman, views gained | Spearman, relative growth | "
          f"coverage (nominal {NOMINAL:.0%}) |")
    print("|---|---|---|---|---|")
    for m in METHODS:
        f = test.figures[m]
        rel = f["spearman_relative"]
        rel_text = _fmt(rel) if rel[0] == rel[0] else "undefined (same growth for every video)"
        print(f"| {LABELS[m]} | {_fmt(f['mdae'])} | {_fmt(f['spearman_gain'])} | {rel_text} | "
              f"{_fmt(f['coverage'], True)} |")
    print("\n| model − baseline (paired) | median abs log error | Spearman, views gained |\n|---|---|---|")
    for b in BASELINES:
        d = test.figures[f"{MODEL}-{b}"]
        print(f"| {MODEL} − {b} | {_fmt(d['mdae'])} | {_fmt(d['spearman_gain'])} |")


if __name__ == "__main__":
    main()
