"""News producers."""
