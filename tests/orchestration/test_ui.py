"""The Dagster UI in a real browser: what a new user sees after a small demo.

`tunehouse ui` (dagster dev, the reports server) runs on a free loopback port over a
warehouse built here the way `make demo` builds one, only smaller: the sample ingested,
the dbt models built, two emulated API days crawled (one partition each), one ML family
trained under the honest protocol and the report built. Headless Chromium (Debian's
/usr/bin/chromium; Playwright cannot download its own browsers offline) then walks the UI
as a new user would and saves a screenshot of each step in `test-artifacts/ui/`.

Values the UI shows are compared with values read from the warehouse and the dbt manifest
here, not with what the code under test reports.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from tunehouse.settings import PROJECT_ROOT, load_settings

CHROMIUM = Path("/usr/bin/chromium")
#: Where the screenshots go (README, "Development"); gitignored, kept by CI as artifacts.
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "ui"
#: Waits are generous (a loaded 2-core CI machine); nothing here asserts a duration.
UI_START_S = 300
STEP_MS = 180_000
RUN_MS = 600_000

pytestmark = [
    pytest.mark.xdist_group("ui"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_demo(settings) -> list[str]:
    """The demo's stages, small: ingest, build, two crawl days, one family, the report. Returns the days."""
    from ingestion.youtube.apiclock import api_day
    from ingestion.youtube.emulator import DEFAULT_API_KEY, EmulatorServer, VideoUniverse, load_seed_videos
    from orchestration.runner import run_job

    log = settings.warehouse.parent / "demo.log"
    run_job("ingest_kaggle", settings, log_file=log)
    run_job("dbt_build", settings, log_file=log)
    emulator = EmulatorServer(VideoUniverse(load_seed_videos(settings.warehouse))).start()
    days = []
    try:
        config = {"ops": {"crawl_youtube": {"config": {"base_url": emulator.base_url}}}}
        for _ in range(2):
            days.append(api_day(emulator.now()).isoformat())
            run_job("youtube_crawl", settings, config, youtube_api_key=DEFAULT_API_KEY, partition_key=days[-1],
                    log_file=log)
            emulator.advance_days(1)
    finally:
        emulator.stop()
    # One cheap family with an honest supervised model, enough for the report's inline figure.
    family = {"protocols": ["honest"], "only": ["majority_class", "random_forest"]}
    run_job("ml_classification", settings, {"ops": {"ml__classification": {"config": family}}}, log_file=log)
    run_job("ml_report", settings, log_file=log)
    return days


@contextmanager
def tunehouse_ui(settings, port: int):
    """`tunehouse ui` in its own process group; stopped like Ctrl-C (SIGINT), killed if it hangs."""
    env = {**os.environ, "TUNEHOUSE_WAREHOUSE": str(settings.warehouse), "DAGSTER_HOME": str(settings.dagster_home),
           "TUNEHOUSE_REPORTS_DIR": str(settings.reports_dir)}
    log = open(settings.warehouse.parent / "ui.log", "w", encoding="utf-8")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "tunehouse"), "ui", "--port", str(port)],
        env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + UI_START_S
        while True:
            try:
                with urllib.request.urlopen(url + "/server_info", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, f"tunehouse ui exited: {(settings.warehouse.parent / 'ui.log').read_text()}"
            assert time.monotonic() < deadline, "the Dagster UI did not start"
            time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _graph_x(page, label: str) -> float:
    """x of a group's box in the lineage graph (the rightmost element with that text: the
    left sidebar lists the groups too)."""
    boxes = [e.bounding_box() for e in page.get_by_text(label, exact=True).all()]
    return max(b["x"] for b in boxes if b)


def _dbt_tests_on(model: str) -> int:
    from orchestration.dbt import dbt_project

    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    unique_id = f"model.tunehouse.{model}"
    return sum(1 for n in manifest["nodes"].values()
               if n["resource_type"] == "test" and n.get("attached_node") == unique_id)


def walk(page, url: str, days: list[str], warehouse: Path) -> None:
    """The new user's walk through the UI at `url`, a screenshot per step."""
    from playwright.sync_api import expect

    with duckdb.connect(str(warehouse), read_only=True) as con:
        dim_tracks_rows = con.execute("SELECT count(*) FROM marts.dim_tracks").fetchone()[0]
        types = dict(con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'marts' AND table_name = 'dim_tracks'").fetchall())

    # 1. The lineage; a new instance greets a first visit with a dialog: dismiss it.
    page.goto(url + "/asset-groups")
    page.get_by_role("button", name="Skip").click()
    for group in ["kaggle", "youtube", "features", "ml", "docs"]:
        expect(page.get_by_text(group, exact=True).last).to_be_visible()
    # The graph reads left to right: the CSV, the crawl, the joined features, the models.
    xs = [_graph_x(page, g) for g in ["kaggle", "youtube", "features", "ml"]]
    assert xs == sorted(xs) and len(set(xs)) == 4, xs
    page.screenshot(path=ARTIFACTS / "1-lineage.png")
    page.goto(url + "/locations/orchestration.definitions/asset-groups/youtube")
    # The group is taller than the window at the graph's smallest zoom, so which nodes are in
    # view depends on the layout: wait for the graph's controls, check the members in the List.
    expect(page.get_by_role("button", name="zoom_in")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "1-lineage-youtube-group.png")
    page.get_by_role("tab", name="List").click()  # whole keys (the graph shortens long names)
    for key in ["raw / youtube_snapshots", "raw / channel_snapshots", "raw / crawl_runs",
                "staging / stg_youtube_snapshots", "staging / stg_channel_snapshots",
                "marts / fct_video_snapshots", "marts / video_growth", "marts / dim_channels",
                "marts / channel_growth"]:
        expect(page.get_by_text(key, exact=True).first).to_be_visible()

    # 2. A dbt model: its row count, its column types, its dbt tests passing.
    page.goto(url + "/assets/marts/dim_tracks")
    status = page.get_by_text("Row count", exact=True).locator("xpath=..")
    expect(status).to_contain_text(f"{dim_tracks_rows:,}")
    expect(page.locator("tr", has_text="track_id").first).to_contain_text(types["track_id"])
    expect(page.locator("tr", has_text="artist").first).to_contain_text(types["artist"])
    page.screenshot(path=ARTIFACTS / "2-dim_tracks.png", full_page=True)
    page.goto(url + "/assets/marts/dim_tracks?view=checks")
    expected = _dbt_tests_on("dim_tracks")
    expect(page.get_by_text(f"Checks ({expected})")).to_be_visible()
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(expected)
    expect(page.get_by_text("Failed", exact=True)).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "2-dim_tracks-checks.png")

    # 3. Materialize the ingest asset from the UI and wait for the run to succeed.
    page.goto(url + "/assets/raw/kaggle_tracks")
    page.locator("button", has_text="Materialize").first.click()
    page.get_by_role("button", name="Confirm").click()  # the multi-asset's other tables come along
    toast = page.get_by_role("region", name="Notifications").filter(has_text="Launched run")
    toast.get_by_text("View", exact=True).click()
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=RUN_MS)
    page.screenshot(path=ARTIFACTS / "3-materialize-run.png")

    # 4. The crawl's partitions: one per API day; the crawled days are materialized.
    page.goto(url + "/assets/raw/youtube_snapshots?view=partitions")
    expect(page.get_by_text(f"Materialized ({len(days)})")).to_be_visible()
    page.get_by_text("Missing (", exact=False).click()  # show the crawled days only
    for day in days:
        expect(page.get_by_text(day, exact=True).first).to_be_visible()
    page.get_by_text(days[0], exact=True).first.click()
    expect(page.get_by_text("day_coverage").first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "4-crawl-partitions.png")

    # 5. The ML report: an inline figure, and a link that opens the HTML report.
    page.goto(url + "/assets/ml/report")
    page.locator("tr", has_text="figure/honest_vs_baseline").get_by_text("[Show Markdown]").click()
    image = page.get_by_role("dialog").locator("img")
    expect(image).to_be_visible()
    assert image.evaluate("e => e.complete && e.naturalWidth") > 0
    page.screenshot(path=ARTIFACTS / "5-ml-report-figure.png")
    page.keyboard.press("Escape")
    report_url = page.locator("tr", has_text="report_url").locator("a").first.get_attribute("href")
    with urllib.request.urlopen(report_url, timeout=30) as response:
        assert response.status == 200 and b"tunehouse ML report" in response.read()


def test_a_new_user_walks_the_dagster_ui(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    settings = load_settings(warehouse=tmp_path / "ui.duckdb", dagster_home=tmp_path / "dagster",
                             reports_dir=tmp_path / "reports", sample_rows=400)
    days = small_demo(settings)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with tunehouse_ui(settings, _free_port()) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.set_default_timeout(STEP_MS)
        expect.set_options(timeout=STEP_MS)
        try:
            walk(page, url, days, settings.warehouse)
        except Exception:
            page.screenshot(path=ARTIFACTS / "failure.png", full_page=True)
            raise
        finally:
            browser.close()
