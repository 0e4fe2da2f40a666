"""Helpers for the YouTube tests: API fixtures, a replay server, CSV parsing, crawl options."""

from __future__ import annotations

import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb

from ingestion.youtube import CrawlOptions, RetryPolicy
from ingestion.youtube.emulator import EmulatorServer

# Retries in tests wait milliseconds, not seconds (the policy is the same, only shorter).
FAST_RETRY = RetryPolicy(max_attempts=12, initial_wait_s=0.001, max_wait_s=0.01)
EMULATOR_KEY = "emulator-key"


def query(warehouse: Path, sql: str, params=()) -> list[tuple]:
    """Rows of `sql` on a read-only connection, closed before returning (the crawl writes next)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def load_fixture(api_fixtures: Path, name: str) -> dict:
    return json.loads((api_fixtures / name).read_text(encoding="utf-8"))


class ReplayServer:
    """A loopback HTTP server answering each request with the next scripted response.

    A script entry is (status, body dict or bytes, headers) or the string "drop" (close
    the connection without answering). Requests (path + query) are recorded.
    """

    def __init__(self) -> None:
        self.script: list = []
        self.requests: list[dict[str, list[str]]] = []
        self.paths: list[str] = []
        self.default = (200, {"kind": "youtube#videoListResponse", "etag": "x", "items": [],
                              "pageInfo": {"totalResults": 0, "resultsPerPage": 0}}, {})
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):  # noqa: N802
                replay.requests.append(parse_qs(urlsplit(self.path).query, keep_blank_values=True))
                replay.paths.append(urlsplit(self.path).path)
                entry = replay.script.pop(0) if replay.script else replay.default
                if entry == "drop":
                    self.close_connection = True
                    return
                status, body, headers = entry
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response_only(status)  # no automatic Date: a script may set its own
                if "Date" not in headers:
                    self.send_header("Date", self.date_time_string())
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/youtube/v3"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def options(emulator: EmulatorServer, **overrides) -> CrawlOptions:
    return CrawlOptions(base_url=emulator.base_url, retry=FAST_RETRY, **overrides)


def csv_video_ids(csv_path: Path) -> set[str]:
    """Distinct video ids of a Kaggle CSV, parsed here with urllib (independent of dbt's regex)."""
    ids: set[str] = set()
    with csv_path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            url = row.get("Url_youtube") or ""
            if url:
                ids.add(parse_qs(urlsplit(url).query)["v"][0])
    return ids


def csv_kaggle_counts(csv_path: Path) -> dict[str, tuple]:
    """video_id -> (views, likes, comments) of its first row in the file."""
    counts: dict[str, tuple] = {}
    with csv_path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            url = row.get("Url_youtube") or ""
            if not url:
                continue
            vid = parse_qs(urlsplit(url).query)["v"][0]
            if vid not in counts:
                counts[vid] = tuple(int(float(row[c])) if row[c] else None for c in ("Views", "Likes", "Comments"))
    return counts
