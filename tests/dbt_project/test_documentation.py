"""The dbt project documents what it builds: every column of every model and seed as the
warehouse has it, exposures for what is built outside dbt, freshness on the crawl's sources."""

from __future__ import annotations

import json

import duckdb

from ml.families import FAMILIES


def _nodes(manifest_path, resource_type: str) -> dict[str, dict]:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == resource_type}


def test_every_column_of_every_model_is_documented(manifest, built_warehouse_template):
    """Compared with the columns of the built warehouse (DuckDB's catalog, not dbt's)."""
    documented = {**_nodes(manifest, "model"), **_nodes(manifest, "seed")}
    with duckdb.connect(str(built_warehouse_template), read_only=True) as con:
        built: dict[str, list[str]] = {}
        for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema IN ('staging', 'intermediate', 'marts') ORDER BY table_name, ordinal_position"
        ).fetchall():
            built.setdefault(table, []).append(column)
    assert set(built) == set(documented), "a model is built but not in the project, or the reverse"
    problems = []
    for name, columns in sorted(built.items()):
        docs = documented[name]["columns"]
        missing = [c for c in columns if c not in docs]
        stale = [c for c in docs if c not in columns]
        undescribed = [c for c in columns if c in docs and not (docs[c].get("description") or "").strip()]
        if missing or stale or undescribed:
            problems.append(f"{name}: missing {missing}, documented but not built {stale}, no description {undescribed}")
    assert not problems, "\n".join(problems)
    for name, node in documented.items():
        assert node["description"].strip(), f"{name} has no description"


def test_exposures_are_the_ml_families_and_the_report(manifest):
    exposures = {e["name"]: e for e in json.loads(manifest.read_text(encoding="utf-8"))["exposures"].values()}
    assert set(exposures) == {f"ml_{name}" for name in FAMILIES} | {"ml_report"}
    for exposure in exposures.values():
        assert {"model.tunehouse.track_features", "model.tunehouse.stg_data_version"} <= set(
            exposure["depends_on"]["nodes"])
        assert exposure["owner"]["name"]


def test_the_crawl_sources_declare_their_freshness(manifest):
    sources = json.loads(manifest.read_text(encoding="utf-8"))["sources"].values()
    youtube = {s["name"]: s for s in sources if s["source_name"] == "youtube"}
    assert set(youtube) == {"youtube_snapshots", "channel_snapshots", "crawl_runs", "quota_ledger"}
    for table in youtube.values():
        freshness = table["freshness"] or table["config"]["freshness"]
        assert freshness["warn_after"]["count"] and freshness["error_after"]["count"], table["name"]
        assert table["loaded_at_field"] in [c for c in table["columns"]], table["name"]
