"""tunehouse: ml."""
