"""tunehouse: orchestration."""
