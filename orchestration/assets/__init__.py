"""Dagster asset definitions, one module per concern; each exports its definition lists."""
