"""The example queries, as runnable SQL: dbt analyses with their ref()/source() resolved.

The queries the README and `make demo` show live in ``dbt_project/analyses/`` (one
``.sql`` and one ``.yml`` with its title per analysis), written with ``ref()`` like every
model. :func:`analysis_sql` turns one into SQL DuckDB runs, from the relation names in a
dbt ``manifest.json`` (written by any ``dbt parse``/``build``) — no dbt import, no Jinja
engine: only ``{{ ref('model') }}``, ``{{ ref('package', 'model') }}`` and
``{{ source('source', 'table') }}`` are allowed in an analysis, anything else is an error.

Relations come out as ``"schema"."identifier"`` without the database: dbt-duckdb names
the database after the warehouse file, so a manifest parsed for one file would otherwise
not run on another.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tunehouse.settings import DBT_PROJECT_DIR

ANALYSES_DIR = DBT_PROJECT_DIR / "analyses"

_ARG = r"""\s*(['"])([^'"]+)\1\s*"""
_REF = re.compile(r"\{\{\s*ref\(" + _ARG + r"(?:," + _ARG + r")?\)\s*\}\}")
_SOURCE = re.compile(r"\{\{\s*source\(" + _ARG + r"," + _ARG + r"\)\s*\}\}")
_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)


class AnalysisError(ValueError):
    """An analysis is unknown, or cannot be resolved from the manifest (one line)."""


def list_analyses(analyses_dir: Path | str = ANALYSES_DIR) -> list[str]:
    """Names of the analyses in the dbt project (file stems of ``analyses/*.sql``), sorted."""
    return sorted(p.stem for p in Path(analyses_dir).glob("*.sql"))


def _load_manifest(manifest_path: Path | str) -> dict:
    path = Path(manifest_path)
    if not path.is_file():
        raise AnalysisError(f"{path}: no dbt manifest there; run `dbt parse` (or `tunehouse build`) first")
    return json.loads(path.read_text(encoding="utf-8"))


def _analysis_node(manifest: dict, name: str) -> dict:
    project = manifest.get("metadata", {}).get("project_name")
    matches = [
        node for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "analysis" and node.get("name") == name
        and (project is None or node.get("package_name") == project)
    ]
    if not matches:
        known = sorted(n["name"] for n in manifest.get("nodes", {}).values() if n.get("resource_type") == "analysis")
        raise AnalysisError(f"no analysis {name!r} in the manifest; known: {', '.join(known) or 'none'}")
    return matches[0]


def _quoted(schema: str, identifier: str) -> str:
    return '"{}"."{}"'.format(schema.replace('"', '""'), identifier.replace('"', '""'))


def analysis_title(name: str, manifest_path: Path | str) -> str:
    """The analysis's description from its YAML (the title the README and demo show)."""
    return _analysis_node(_load_manifest(manifest_path), name).get("description", "") or name


def analysis_sql(name: str, manifest_path: Path | str) -> str:
    """The SQL of analysis ``name`` with every ref()/source() replaced by its relation.

    Raises :class:`AnalysisError` for an unknown analysis, a ref/source the manifest does
    not have, or any other Jinja left in the analysis.
    """
    manifest = _load_manifest(manifest_path)
    node = _analysis_node(manifest, name)
    relations: dict[tuple[str | None, str], str] = {}
    for other in manifest.get("nodes", {}).values():
        if other.get("resource_type") in ("model", "seed", "snapshot"):
            rel = _quoted(other["schema"], other.get("alias") or other["name"])
            relations[(other["package_name"], other["name"])] = rel
            relations.setdefault((None, other["name"]), rel)
    sources = {
        (src["source_name"], src["name"]): _quoted(src["schema"], src.get("identifier") or src["name"])
        for src in manifest.get("sources", {}).values()
    }

    def ref(match: re.Match) -> str:
        first, second = match.group(2), match.group(4)
        key = (first, second) if second else (None, first)
        if key not in relations:
            raise AnalysisError(f"analysis {name!r}: ref({', '.join(repr(k) for k in key if k)}) is not in the manifest")
        return relations[key]

    def source(match: re.Match) -> str:
        key = (match.group(2), match.group(4))
        if key not in sources:
            raise AnalysisError(f"analysis {name!r}: source{key!r} is not in the manifest")
        return sources[key]

    sql = _JINJA_COMMENT.sub("", node["raw_code"])
    sql = _SOURCE.sub(source, _REF.sub(ref, sql))
    if "{{" in sql or "{%" in sql:
        raise AnalysisError(f"analysis {name!r}: only ref() and source() are supported, found other Jinja")
    return sql.strip() + "\n"
