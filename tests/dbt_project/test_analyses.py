"""The example queries as dbt analyses: resolved from a manifest, run on a built warehouse."""

from __future__ import annotations

import csv

import duckdb
import pytest

from orchestration.analyses import AnalysisError, analysis_sql, analysis_title, list_analyses

#: Every analysis and the data it needs: "kaggle" ones run on a build of the CSV alone,
#: "youtube" ones need crawls (checked in tests/ingestion/youtube/test_growth_models.py).
EXPECTED = {
    "track_count": "kaggle",
    "most_viewed_tracks": "kaggle",
    "video_view_history": "youtube",
    "fastest_growing_videos": "youtube",
    "quota_per_api_day": "youtube",
}


def test_every_analysis_is_known_and_resolves_to_plain_sql(manifest):
    assert list_analyses() == sorted(EXPECTED)
    for name in list_analyses():
        sql = analysis_sql(name, manifest)
        assert "{{" not in sql and "ref(" not in sql and "source(" not in sql
        assert '"marts".' in sql  # every example reads the marts
        assert analysis_title(name, manifest)


def test_kaggle_analyses_answer_from_the_csv(built_warehouse, sample_csv, manifest):
    with sample_csv.open(encoding="utf-8", newline="") as fh:
        source = list(csv.DictReader(fh))
    con = duckdb.connect(str(built_warehouse), read_only=True)
    try:
        assert con.execute(analysis_sql("track_count", manifest)).fetchall() == [(len(source),)]
        top = con.execute(analysis_sql("most_viewed_tracks", manifest)).fetchall()
        # Every youtube analysis runs on a build without crawls too (no rows, no error).
        for name, needs in EXPECTED.items():
            if needs == "youtube":
                assert con.execute(analysis_sql(name, manifest)).fetchall() == []
    finally:
        con.close()
    by_views = sorted(((int(float(r["Views"])), r["Artist"]) for r in source if r["Views"]), reverse=True)[:5]
    assert [views for _, views in top] == [views for views, _ in by_views]
    views_of = {}
    for views, artist in by_views:
        views_of.setdefault(views, set()).add(artist)
    assert all(artist in views_of[views] for artist, views in top)


def test_unknown_analysis_missing_manifest_and_unsupported_jinja_are_one_line_errors(manifest, tmp_path):
    with pytest.raises(AnalysisError, match="no analysis 'nope' in the manifest; known: fastest_growing_videos, most_viewed_tracks"):
        analysis_sql("nope", manifest)
    with pytest.raises(AnalysisError, match="no dbt manifest"):
        analysis_sql("track_count", tmp_path / "missing.json")
    import json

    data = json.loads(manifest.read_text())
    node = next(n for n in data["nodes"].values() if n["name"] == "track_count" and n["resource_type"] == "analysis")
    node["raw_code"] = "select {{ var('x') }} from {{ ref('dim_tracks') }}"
    broken = tmp_path / "manifest.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(AnalysisError, match="only ref\\(\\) and source\\(\\)"):
        analysis_sql("track_count", broken)
    node["raw_code"] = "select * from {{ ref('no_such_model') }} join {{ source('raw', 'kaggle_loads') }} using (x)"
    broken.write_text(json.dumps(data))
    with pytest.raises(AnalysisError, match="ref\\('no_such_model'\\) is not in the manifest"):
        analysis_sql("track_count", broken)
    node["raw_code"] = "select * from {{ source('raw', 'kaggle_loads') }} /* {# note #} */ limit 1"
    broken.write_text(json.dumps(data))
    assert analysis_sql("track_count", broken) == 'select * from "raw"."kaggle_loads" /*  */ limit 1\n'


def test_the_readme_shows_each_analysis_exactly_as_it_is_in_the_project():
    """The README's example queries are the analyses' files, not copies that can drift."""
    import re

    from tunehouse.settings import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"`tunehouse analysis (\w+)`\n\n```sql\n(.*?)\n```", readme, flags=re.DOTALL)
    assert {name for name, _ in shown} == {"video_view_history", "fastest_growing_videos", "quota_per_api_day"}
    for name, sql in shown:
        assert sql.strip() == (PROJECT_ROOT / "dbt_project" / "analyses" / f"{name}.sql").read_text().strip(), name
