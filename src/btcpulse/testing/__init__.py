"""Test tooling shipped with the package (fake exchange, local service launchers)."""
