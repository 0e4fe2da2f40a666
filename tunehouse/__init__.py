"""Project-wide pieces of tunehouse that belong to no single layer: its settings and safe file writes."""
