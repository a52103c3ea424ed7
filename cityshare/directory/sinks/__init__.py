"""Directory sinks (OpenMetadata)."""
