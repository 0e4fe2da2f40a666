"""tunehouse.files: a file is replaced whole or not at all, and no temporary file is left behind."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunehouse import files
from tunehouse.settings import PROJECT_ROOT


class Interrupted(Exception):
    """Stands for whatever stops a write half-way (a rendering error, a full disk, Ctrl-C)."""


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    old=st.binary(max_size=4096),
    chunks=st.lists(st.binary(max_size=2048), max_size=8),
    fail_after=st.integers(min_value=0, max_value=8),
)
def test_a_failure_at_any_point_leaves_the_old_file(tmp_path_factory, old, chunks, fail_after):
    folder = tmp_path_factory.mktemp("atomic")
    target = folder / "report.html"
    target.write_bytes(old)
    fail_after = min(fail_after, len(chunks))
    with pytest.raises(Interrupted), files.atomic_open(target, "wb") as handle:
        for chunk in chunks[:fail_after]:
            handle.write(chunk)
        raise Interrupted
    assert target.read_bytes() == old
    assert _names(folder) == ["report.html"]  # the temporary file is gone too


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=st.text(max_size=2000), new=st.text(max_size=2000))
def test_a_complete_write_replaces_the_file(tmp_path_factory, old, new):
    folder = tmp_path_factory.mktemp("atomic")
    target = folder / "summary.txt"
    target.write_text(old, encoding="utf-8")
    assert files.write_text(target, new) == target
    assert target.read_bytes() == new.encode("utf-8")  # no newline translation, nothing appended
    assert _names(folder) == ["summary.txt"]


def test_a_failing_move_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "figure.png"
    target.write_bytes(b"old figure")

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        files.write_bytes(target, b"new figure")
    assert target.read_bytes() == b"old figure"
    assert _names(tmp_path) == ["figure.png"]


def test_new_file_in_a_new_folder_gets_the_usual_permissions(tmp_path):
    target = files.write_text(tmp_path / "a" / "b" / "page.html", "<html></html>")
    assert target.read_text(encoding="utf-8") == "<html></html>"
    umask = os.umask(0)
    os.umask(umask)
    # as open(path, "w") would: 0666 less the umask (mkstemp's 0600 would hide a served report)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_only_whole_file_modes():
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"), files.atomic_open("unused.txt", "a"):
        pass


TEMP_CALL = re.compile(r"tempfile\.(mkdtemp|mkstemp|NamedTemporaryFile|TemporaryDirectory|TemporaryFile)\(([^)]*)\)")


def test_every_temporary_file_of_tunehouse_carries_its_prefix():
    """The session check in tests/conftest.py finds leaks by the `tunehouse-` prefix; a temporary
    file or folder made without it would slip through unseen."""
    calls = []
    for package in ("warehouse", "ingestion", "ml", "orchestration", "tunehouse"):
        for source in (PROJECT_ROOT / package).rglob("*.py"):
            for match in TEMP_CALL.finditer(source.read_text(encoding="utf-8")):
                calls.append((str(source.relative_to(PROJECT_ROOT)), match.group(0)))
    unprefixed = [c for c in calls if 'prefix="tunehouse-' not in c[1]]
    assert calls and not unprefixed, unprefixed


def test_run_dbt_removes_its_temporary_folder_when_dbt_fails(tmp_path, monkeypatch, private_tempdir):
    """run_dbt's target folder goes away also on failure (the session check covers success)."""
    import tempfile

    from orchestration import dbt

    made = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        made.append(Path(real_mkdtemp(*args, **kwargs)))
        return str(made[-1])

    class FailingDbt:
        def cli(self, args, target_path):
            (Path(target_path) / "manifest.json").write_text("{}", encoding="utf-8")  # dbt wrote something
            raise RuntimeError("dbt failed")

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    monkeypatch.setattr(dbt, "dbt_resource", lambda project=None: FailingDbt())
    with pytest.raises(RuntimeError, match="dbt failed"):
        dbt.run_dbt(["build"], tmp_path / "w.duckdb")
    assert len(made) == 1 and made[0].parent == private_tempdir and made[0].name.startswith("tunehouse-dbt-")
    assert not made[0].exists()
