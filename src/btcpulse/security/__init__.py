"""Encryption: TLS to PostgreSQL and Kafka (:mod:`.transport`), secrets encrypted at rest in
the store (:mod:`.secrets`). See ``docs/security.md``. Nothing here runs at import time."""
