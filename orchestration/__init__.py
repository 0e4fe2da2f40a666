"""Orchestration: the Dagster definitions and the `tunehouse` CLI.

Importing this package imports nothing else: the CLI (`orchestration.cli`) imports what a
command needs when it runs, and Dagster loads `orchestration.definitions`
(`dagster dev -m orchestration.definitions`).
"""
