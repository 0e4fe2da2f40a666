"""A deterministic synthetic Kaggle "Spotify and Youtube" CSV, so tunehouse runs with no download.

Same 28 columns, header and number formats as the original file (unnamed index column,
floats written "6.0", Stream as an integer, True/False booleans, a multi-line
emoji-bearing Description). Distributions are chosen to look like the real data:
heavy-tailed counts that correlate (log-normal, views ~ streams ~ likes ~ comments),
about 2 % of rows without a YouTube video, videos shared by several artists
(collaborations), hidden like/comment counts, and a few children's-music acts whose
views dwarf their streams (the outliers the study found).
"""

from __future__ import annotations

import csv
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingestion.kaggle_schema import KAGGLE_COLUMNS

HEADER = [c.source for c in KAGGLE_COLUMNS]

_SYLLABLES = (
    "ka lo mi ra ve su to na el an ri da zo be ly mo xi qu fa ne "
    "sa vo ti ar en ul ko ji pe gu ha wi ba ce do".split()
)
_WORDS = (
    "love night fire summer dream heart city gold blue wild light rain dance "
    "forever young midnight echo paradise stars ocean river shadow electric "
    "sugar lonely crazy home run free higher neon velvet thunder".split()
)
_EMOJI = ["🎵", "🔥", "❤️", "✨", "🎧", "🌙", "💃", "🎤", "🙌", "🌈"]
_BASE62 = string.ascii_letters + string.digits
_VIDEO_CHARS = string.ascii_letters + string.digits + "-_"

# Real children's acts (the study's is_children rule and the dbt seed must catch them).
_CHILDREN_ACTS = (
    ("CoComelon", "Cocomelon - Nursery Rhymes"),
    ("Super Simple Songs", "Super Simple Songs - Kids Songs"),
    ("The Wiggles", "The Wiggles"),
)


@dataclass(frozen=True)
class _Artist:
    name: str
    channel: str
    children: bool
    popularity: float  # log-scale offset shared by the artist's tracks


def _word(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(_SYLLABLES, size=n)).capitalize()


def _title(rng: np.random.Generator) -> str:
    words = rng.choice(_WORDS, size=int(rng.integers(1, 4)))
    return " ".join(w.capitalize() for w in words)


def _token(rng: np.random.Generator, alphabet: str, n: int) -> str:
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=n))


def _artists(rng: np.random.Generator, n: int) -> list[_Artist]:
    names: set[str] = {name for name, _ in _CHILDREN_ACTS}
    artists = [_Artist(name, channel, True, 1.2) for name, channel in _CHILDREN_ACTS]
    # Names that NA-detection would wrongly turn into nulls stay text in tunehouse.
    for special in ("NA", "None"):
        names.add(special)
        artists.append(_Artist(special, f"{special} - Topic", False, float(rng.normal(0, 1))))
    while len(artists) < n:
        name = f"{_word(rng, 2)} {_word(rng, int(rng.integers(1, 3)))}"
        if rng.random() < 0.3:
            name = _word(rng, 3)
        if name in names:
            continue
        names.add(name)
        channel = rng.choice([f"{name}VEVO", name, f"{name} - Topic", f"{name} Official"])
        artists.append(_Artist(name, str(channel), False, float(rng.normal(0, 1.2))))
    return artists


def _description(rng: np.random.Generator, title: str, artist: str) -> str:
    lines = [
        f"{rng.choice(_EMOJI)} {title} by {artist} {rng.choice(_EMOJI)}",
        "",
        f'Listen to "{title}" everywhere: https://example.com/{_token(rng, _BASE62, 8)}',
        f"Follow {artist}, and share, if you like it, with friends {rng.choice(_EMOJI)}",
    ]
    return "\n".join(lines[: int(rng.integers(1, len(lines) + 1))])


def _fmt_float(value: float) -> str:
    return repr(float(value))


def generate_rows(rows: int = 3000, seed: int = 7) -> list[list[str]]:
    """The sample's records (strings, "" for null) in Kaggle column order."""
    rng = np.random.default_rng(seed)
    artists = _artists(rng, len(_CHILDREN_ACTS) + 2 + rows // 5)
    out: list[list[str]] = []
    videos: list[tuple[str, str, str, float]] = []  # id, title, channel, log-views
    index = 0
    artist_iter = 0
    while index < rows:
        artist = artists[artist_iter % len(artists)]
        artist_iter += 1
        n_tracks = 10 if artist.children else int(rng.integers(1, 11))
        spotify_artist = _token(rng, _BASE62, 22)
        album = _title(rng)
        for _ in range(n_tracks):
            if index >= rows:
                break
            track = "NA" if rng.random() < 0.002 else _title(rng)
            album_type = rng.choice(["album", "single", "compilation"], p=[0.72, 0.24, 0.04])
            if album_type == "single":
                album = track
            # Audio features (Spotify's 0..1 scales, tempo in BPM, loudness in dB).
            features = [
                rng.beta(5, 3), rng.beta(5, 2.5), float(rng.integers(0, 12)),
                min(rng.normal(-7.5, 3.5), 1.0), rng.beta(1.2, 12), rng.beta(0.7, 2.2),
                rng.beta(0.15, 3.0), rng.beta(1.5, 7), rng.beta(2.5, 2.5),
                rng.normal(120, 28), float(rng.integers(90_000, 420_000)),
            ]
            if rng.random() < 0.001:
                features = [None] * len(features)
            # One latent popularity drives all counts, so they correlate like the real data.
            pop = artist.popularity + rng.normal(0, 1.0)
            log_views = 15.5 + 1.6 * pop + rng.normal(0, 0.6)
            log_stream = 17.8 + 1.1 * pop + rng.normal(0, 0.7) - (3.0 if artist.children else 0.0)
            if artist.children:
                log_views += 2.5
            has_video = rng.random() > 0.023
            shared = has_video and videos and rng.random() < 0.12
            if shared:  # a collaboration: the same video under another artist
                video_id, v_title, channel, log_views = videos[int(rng.integers(0, len(videos)))]
            else:
                video_id, v_title, channel = _token(rng, _VIDEO_CHARS, 11), f"{artist.name} - {track}", artist.channel
                if rng.random() < 0.25:
                    v_title += " (Official Video)"
                if has_video and not artist.children:  # kids' videos are not collaborations
                    videos.append((video_id, v_title, channel, log_views))
            views = np.exp(log_views)
            likes = views * np.exp(rng.normal(-4.6, 0.6))
            comments = likes * np.exp(rng.normal(-3.4, 0.7))
            url_form = rng.random()
            url = (
                f"https://www.youtube.com/watch?v={video_id}" if url_form < 0.97
                else f"https://www.youtube.com/watch?v={video_id}&list=PL{_token(rng, _BASE62, 10)}"
            )
            record = {
                "": str(index),
                "Artist": artist.name,
                "Url_spotify": f"https://open.spotify.com/artist/{spotify_artist}",
                "Track": track,
                "Album": album,
                "Album_type": str(album_type),
                "Uri": f"spotify:track:{_token(rng, _BASE62, 22)}",
                "Url_youtube": url if has_video else "",
                "Title": v_title if has_video else "",
                "Channel": channel if has_video else "",
                "Views": _fmt_float(round(views)) if has_video else "",
                "Likes": _fmt_float(round(likes)) if has_video and rng.random() > 0.003 else "",
                "Comments": _fmt_float(round(comments)) if has_video and rng.random() > 0.005 else "",
                "Description": _description(rng, track, artist.name) if has_video and rng.random() > 0.05 else "",
                "Licensed": str(bool(rng.random() < 0.7)) if has_video else "",
                "official_video": str(bool(rng.random() < (0.95 if artist.children else 0.76))) if has_video else "",
                "Stream": str(int(np.exp(log_stream))) if rng.random() > 0.028 else "",
            }
            names = ("Danceability", "Energy", "Key", "Loudness", "Speechiness", "Acousticness",
                     "Instrumentalness", "Liveness", "Valence", "Tempo", "Duration_ms")
            for name, value in zip(names, features, strict=True):
                record[name] = "" if value is None else _fmt_float(round(float(value), 6) if name != "Key" else value)
            out.append([record[h] for h in HEADER])
            index += 1
    return out


def write_sample_csv(path: Path | str, rows: int = 3000, seed: int = 7) -> Path:
    """Write the sample CSV to `path` (same seed and size → byte-identical file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(generate_rows(rows, seed))
    return path
