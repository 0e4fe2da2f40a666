"""`make demo` can be run again: each run starts from a fresh warehouse and, the emulator's
clock and faults being deterministic, gives the same growth history and the same answers
to the README's three questions, digit for digit (issue #10).

The demo's data stages (fresh warehouse, ingest, build, crawl) run here for real, through
Dagster, dbt and the HTTP emulator; the ML stages do not change any of the answers.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from orchestration.demo import DATA_STAGES, YOUTUBE_ANALYSES, DemoRun, fresh_warehouse
from tunehouse.settings import PROJECT_ROOT, load_settings
from warehouse.connection import WarehouseError

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo")]

# Identifiers of a crawl run (a random suffix; commit and publish sequence numbers follow the
# grouping of concurrent batches into commits):
# they name rows, they are not part of the growth history the answers are made of.
RUN_IDENTIFIERS = ("snapshot_id", "crawl_id", "commit_seq", "publish_seq")


def run_data_stages(warehouse: Path, tmp_path: Path, sample_rows: int | None = None) -> str:
    """Run the demo's stages up to the crawl on `warehouse`; what the demo printed."""
    overrides = {"sample_rows": sample_rows} if sample_rows else {}
    settings = load_settings(warehouse=warehouse, dagster_home=tmp_path / "dagster",
                             reports_dir=tmp_path / "reports", **overrides)
    out = io.StringIO()
    demo = DemoRun(settings, Console(file=out, width=200, soft_wrap=True), tmp_path / "demo.log")
    for _title, stage in DATA_STAGES:
        stage(demo)
    return out.getvalue()


def analysis_csv(name: str, warehouse: Path) -> str:
    """`tunehouse analysis NAME --format csv`: the command the README's tables come from."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "tunehouse"), "analysis", name, "--format", "csv",
         "--warehouse", str(warehouse)],
        check=True, capture_output=True, text=True, cwd=PROJECT_ROOT,
    )
    return done.stdout


def markdown_table(csv_text: str) -> str:
    """A CSV as the README shows it: `| a | b |` rows, NULL for an empty cell."""
    header, *rows = csv.reader(io.StringIO(csv_text))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(v if v != "" else "NULL" for v in row) + " |" for row in rows]
    return "\n".join(lines)


def readme_tables() -> dict[str, str]:
    """The table under each `tunehouse analysis NAME` heading of the README."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"`tunehouse analysis (\w+)`\n\n```sql\n.*?\n```\n\n((?:\|[^\n]*\|\n)+)", readme, flags=re.DOTALL)
    return {name: table.strip() for name, table in found}


def answers(warehouse: Path) -> dict[str, list[tuple]]:
    """marts.video_growth (without the run identifiers) and the three analyses, all rows."""
    result = {name: markdown_table(analysis_csv(name, warehouse)) for name in YOUTUBE_ANALYSES}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = [c for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' "
            "AND table_name = 'video_growth' ORDER BY ordinal_position").fetchall()]
        kept = [c for c in columns if c not in RUN_IDENTIFIERS]
        result["video_growth"] = con.execute(
            f"SELECT {', '.join(kept)} FROM marts.video_growth ORDER BY video_id, observed_at").fetchall()
    return result


def test_a_second_demo_on_the_same_warehouse_gives_the_same_history_and_answers(tmp_path):
    warehouse = tmp_path / "demo.duckdb"
    printed_once = run_data_stages(warehouse, tmp_path / "first", sample_rows=300)
    once = answers(warehouse)
    assert "is new" in printed_once
    days = re.findall(r"day \d \((\d{4}-\d\d-\d\d)\)", printed_once)
    assert days == [f"2023-02-{d:02d}" for d in range(8, 16)]
    # Eight crawls of every available video: one series per video, no interleaving.
    per_video: dict[str, int] = {}
    for row in once["video_growth"]:
        per_video[row[0]] = per_video.get(row[0], 0) + 1
    assert per_video and max(per_video.values()) == 8

    printed = run_data_stages(warehouse, tmp_path / "second", sample_rows=300)
    again = answers(warehouse)
    assert "held only an earlier demo's data" in printed and "deleted" in printed
    # The second run starts over from nothing (a new emulator, new threads, another order
    # of concurrent calls), so this is also two independent fresh runs agreeing: row for
    # row, not merely the same counts.
    for name in ("video_growth", *YOUTUBE_ANALYSES):
        assert again[name] == once[name], name
    # What the demo printed about the crawl is the same too (counts per day, not timings).
    assert re.findall(r"day \d .*", printed) == re.findall(r"day \d .*", printed_once)


def test_a_warehouse_with_data_the_demo_cannot_make_again_is_refused_and_kept(tmp_path, sample_csv):
    from ingestion.kaggle_csv import ingest_csv

    settings = load_settings(warehouse=tmp_path / "mine.duckdb", dagster_home=tmp_path / "dagster")
    demo = DemoRun(settings, Console(file=io.StringIO()), tmp_path / "demo.log")
    ingest_csv(sample_csv, settings.warehouse)  # a load of the user's own file, not the demo's sample
    before = settings.warehouse.read_bytes()
    with pytest.raises(WarehouseError, match=r"cannot make again \(a Kaggle load of .*sample\.csv\).*--warehouse"):
        fresh_warehouse(demo)
    assert settings.warehouse.read_bytes() == before

    other = tmp_path / "theirs.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE main.notes AS SELECT 1 AS n")
    demo = DemoRun(load_settings(warehouse=other), Console(file=io.StringIO()), tmp_path / "demo.log")
    with pytest.raises(WarehouseError, match="table main.notes"):
        fresh_warehouse(demo)
    assert other.exists()


def test_the_readme_tables_are_what_the_demo_gives(tmp_path):
    """The README's three tables are `tunehouse analysis NAME --format csv` after the demo's
    stages with the default settings (the 3,000-row sample), digit for digit."""
    warehouse = tmp_path / "demo.duckdb"
    run_data_stages(warehouse, tmp_path)
    shown = readme_tables()
    assert set(shown) == set(YOUTUBE_ANALYSES)
    for name in YOUTUBE_ANALYSES:
        assert shown[name] == markdown_table(analysis_csv(name, warehouse)), name
