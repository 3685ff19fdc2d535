"""Pure analytics: batches in, batches out, no I/O. Both engines call these functions."""
