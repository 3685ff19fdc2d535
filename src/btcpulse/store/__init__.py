"""The store: one SQLAlchemy Core schema for SQLite (embedded) and PostgreSQL (distributed)."""

from btcpulse.store.db import Store

__all__ = ["Store"]
