"""Price producers."""
