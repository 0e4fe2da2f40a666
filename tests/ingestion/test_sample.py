"""The built-in sample has the Kaggle schema and realistic, deterministic data."""

from __future__ import annotations

import csv
import hashlib
import math
from collections import Counter

from ingestion.sample import HEADER, write_sample_csv

KAGGLE_HEADER = [
    "", "Artist", "Url_spotify", "Track", "Album", "Album_type", "Uri", "Danceability", "Energy",
    "Key", "Loudness", "Speechiness", "Acousticness", "Instrumentalness", "Liveness", "Valence",
    "Tempo", "Duration_ms", "Url_youtube", "Title", "Channel", "Views", "Likes", "Comments",
    "Description", "Licensed", "official_video", "Stream",
]


def _read(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_header_is_exactly_the_kaggle_header(sample_csv):
    with open(sample_csv, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == KAGGLE_HEADER == HEADER
    assert len(header) == 28


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = write_sample_csv(tmp_path / "a.csv", rows=300, seed=1)
    b = write_sample_csv(tmp_path / "b.csv", rows=300, seed=1)
    c = write_sample_csv(tmp_path / "c.csv", rows=300, seed=2)
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(a) == digest(b) != digest(c)


def test_distributions_look_like_the_real_data(sample_csv):
    rows = _read(sample_csv)
    assert len(rows) == 1000
    assert [int(r[""]) for r in rows] == list(range(1000))
    # Multi-line, emoji-bearing descriptions.
    descriptions = [r["Description"] for r in rows if r["Description"]]
    assert any("\n" in d for d in descriptions)
    assert any(any(ord(ch) > 0xFFFF for ch in d) for d in descriptions)
    # About 2 % of rows without a YouTube video, and then all YouTube fields are empty.
    no_video = [r for r in rows if not r["Url_youtube"]]
    assert 0.005 <= len(no_video) / len(rows) <= 0.05
    assert all(not r["Views"] and not r["Channel"] and not r["official_video"] for r in no_video)
    # The same video under several artists.
    by_url = Counter(r["Url_youtube"] for r in rows if r["Url_youtube"])
    shared = [u for u, n in by_url.items() if n > 1]
    assert shared and any(len({r["Artist"] for r in rows if r["Url_youtube"] == u}) > 1 for u in shared)
    # Children's acts, each with 10 rows.
    artists = Counter(r["Artist"] for r in rows)
    assert artists["CoComelon"] == 10 and artists["Super Simple Songs"] == 10
    assert max(artists.values()) <= 10
    # Kaggle number formats: floats for Key/Views, integer Stream.
    assert all(r["Key"].endswith(".0") for r in rows if r["Key"])
    assert all(r["Views"].endswith(".0") for r in rows if r["Views"])
    assert all(r["Stream"].isdigit() for r in rows if r["Stream"])
    # Heavy tails that correlate.
    pairs = [(math.log(float(r["Views"])), math.log(float(r["Stream"]))) for r in rows if r["Views"] and r["Stream"]]
    n = len(pairs)
    mx, my = sum(p[0] for p in pairs) / n, sum(p[1] for p in pairs) / n
    cov = sum((x - mx) * (y - my) for x, y in pairs)
    r = cov / math.sqrt(sum((x - mx) ** 2 for x, _ in pairs) * sum((y - my) ** 2 for _, y in pairs))
    assert r > 0.5
    views = sorted(float(r["Views"]) for r in rows if r["Views"])
    assert views[-1] / views[len(views) // 2] > 100  # heavy right tail
