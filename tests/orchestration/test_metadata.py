"""Metadata helpers: figures inline in the UI, a manifest pointed at the warehouse it describes."""

from __future__ import annotations

import base64
import io
import json
import re

import dagster as dg
import pytest
from PIL import Image

from orchestration.metadata import THUMBNAIL_WIDTH, figure_metadata


def _png(path, width: int, height: int) -> None:
    Image.new("RGB", (width, height), (200, 30, 30)).save(path, format="PNG")


def _inline_image(markdown: str) -> Image.Image:
    [data] = re.findall(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    return Image.open(io.BytesIO(base64.b64decode(data)))


@pytest.mark.parametrize(("width", "height", "shown"), [(2000, 1000, (THUMBNAIL_WIDTH, THUMBNAIL_WIDTH // 2)),
                                                        (300, 200, (300, 200))])
def test_a_png_figure_is_an_inline_image_scaled_down_to_a_thumbnail(tmp_path, width, height, shown):
    path = tmp_path / "figure.png"
    _png(path, width, height)
    value = figure_metadata(path)
    assert isinstance(value, dg.MarkdownMetadataValue)
    image = _inline_image(value.value)
    assert image.size == shown and image.getpixel((0, 0))[:3] == (200, 30, 30)
    assert str(path) in value.value  # the full-size file is still named


def test_other_figures_stay_paths(tmp_path):
    page = tmp_path / "stream_vs_views.html"
    page.write_text("<html></html>")
    assert figure_metadata(page) == dg.MetadataValue.path(str(page))


def test_the_manifest_names_relations_in_the_warehouse_it_is_used_with(manifest, tmp_path):
    from orchestration.dbt import manifest_for_warehouse

    parsed = json.loads(manifest.read_text(encoding="utf-8"))
    moved = manifest_for_warehouse(manifest, tmp_path / "elsewhere.duckdb")
    tables = [n for n in moved["nodes"].values() if n.get("relation_name")] + list(moved["sources"].values())
    assert tables and all(n["database"] == "elsewhere" for n in tables)
    original = parsed["nodes"]["model.tunehouse.dim_tracks"]["relation_name"]
    assert moved["nodes"]["model.tunehouse.dim_tracks"]["relation_name"] == re.sub(
        r'^"[^"]+"\.', '"elsewhere".', original)
    assert moved["nodes"]["model.tunehouse.dim_tracks"]["relation_name"].endswith('"marts"."dim_tracks"')
