"""dashboard floor."""
