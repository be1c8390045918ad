"""warehouse floor."""
