"""The reports folder over HTTP, on loopback, for as long as `tunehouse ui` runs.

A browser will not open a `file://` link from a web page (the Dagster UI), and the HTML
report's figures are files beside it, so `tunehouse ui` serves the warehouse's reports
folder (the HTML report, its figures, the dbt docs site) on a free loopback port and
tells the Dagster code location where (TUNEHOUSE_REPORTS_URL): `ml/report` and
`docs/dbt_docs` then carry links that open in the browser. Read-only, GET and HEAD only.
"""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the stdlib's name
        pass  # the UI's terminal stays Dagster's


class ReportsServer:
    """Serves `folder` at `url` from a daemon thread until `stop()`."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._httpd = ThreadingHTTPServer((host, port), partial(_QuietHandler, directory=str(self.folder)))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="reports-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> ReportsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
