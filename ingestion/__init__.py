"""tunehouse: ingestion."""
