"""Model zoo (placeholder until the foundation lands)."""
