"""Secrets encrypted at rest in the store: API tokens and other credentials of the sources.

Each value is sealed with Fernet (AES-128-CBC + HMAC-SHA256: authenticated, so a changed row
is refused, never decrypted into garbage) under keys that live outside the database:
``BTCPULSE_SECRET_KEYS`` (comma-separated) or the file ``BTCPULSE_SECRET_KEYS_FILE``. The first
key seals; every key listed opens (:class:`~cryptography.fernet.MultiFernet`), so keys are
rotated by putting a new key first, running :meth:`SecretStore.rotate` (every row re-sealed
under it, in one transaction), then dropping the old key.

The sealed payload is ``{"name": ..., "value": ...}``: a row copied under another name is
refused too. Values come back as :class:`~pydantic.SecretStr`; no error message, log record or
repr here ever holds one (names and key ids only).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import SecretStr
from sqlalchemy import delete, select, update

from btcpulse.store import schema as t
from btcpulse.store.upsert import upsert
from btcpulse.timeutil import utcnow

if TYPE_CHECKING:
    from cryptography.fernet import Fernet, MultiFernet

    from btcpulse.config import Settings
    from btcpulse.store.db import Store

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@\-]{0,199}$")
MAX_VALUE_BYTES = 64 * 1024
KEYS_ENV = "BTCPULSE_SECRET_KEYS"


class SecretsError(RuntimeError):
    """The secret store cannot do what was asked. The message names secrets, never values."""


class NoKeysError(SecretsError):
    """No key configured: the secret store is off."""


class UndecryptableError(SecretsError):
    """A row the configured keys cannot open (wrong or removed key, or a tampered row)."""


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key (tells which key sealed a row; reveals nothing
    usable about the key: a 48-bit prefix of its SHA-256)."""
    return hashlib.sha256(key).hexdigest()[:12]


@dataclass(frozen=True)
class Keyring:
    """The configured keys, the first current. Its repr shows key ids, never keys."""

    fernet: MultiFernet = field(repr=False)
    current: Fernet = field(repr=False)
    ids: tuple[str, ...]

    @property
    def current_id(self) -> str:
        return self.ids[0]

    @classmethod
    def from_keys(cls, keys: list[str] | list[bytes], origin: str = KEYS_ENV) -> Keyring:
        from cryptography.fernet import Fernet, MultiFernet

        raw = [k.encode() if isinstance(k, str) else k for k in keys]
        raw = [k.strip() for k in raw if k.strip()]
        if not raw:
            raise NoKeysError(f"no secret key in {origin}")
        fernets = []
        for i, k in enumerate(raw, 1):
            try:
                fernets.append(Fernet(k))
            except (ValueError, TypeError):  # the message would not show the key; ours neither
                raise SecretsError(
                    f"key #{i} of {origin} is not a Fernet key (32 url-safe base64 bytes); "
                    "make one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'"
                ) from None
        return cls(MultiFernet(fernets), fernets[0], tuple(key_id(k) for k in raw))


def keyring_from_settings(settings: Settings) -> Keyring:
    """The keys of ``secret_keys`` or ``secret_keys_file``; :class:`NoKeysError` if neither."""
    if settings.secret_keys is not None:
        text, origin = settings.secret_keys.get_secret_value(), KEYS_ENV
    elif settings.secret_keys_file is not None:
        origin = str(settings.secret_keys_file)
        try:
            text = settings.secret_keys_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretsError(f"cannot read the secret keys file {origin}: {exc}") from None
    else:
        raise NoKeysError(
            f"no secret keys configured: set {KEYS_ENV} (or BTCPULSE_SECRET_KEYS_FILE)"
        )
    return Keyring.from_keys(re.split(r"[,\s]+", text), origin)


@dataclass(frozen=True)
class SecretInfo:
    """What ``secrets list`` shows: never the value."""

    name: str
    created_at: datetime
    updated_at: datetime
    key_id: str


@dataclass(frozen=True)
class Rotation:
    rows: int  # rows re-sealed under the current key
    moved: int  # of which were sealed under another key before


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise SecretsError(
            f"bad secret name {name[:80]!r}: letters, digits and _ . : / @ - (max 200)"
        )
    return name


class SecretStore:
    """Put, get, list, delete and rotate secrets in the store's ``secrets`` table."""

    def __init__(self, store: Store, keys: Keyring) -> None:
        self.store = store
        self.keys = keys

    def __repr__(self) -> str:
        return f"SecretStore(keys={list(self.keys.ids)})"

    def _seal(self, name: str, value: str) -> str:
        payload = json.dumps({"name": name, "value": value}).encode()
        return self.keys.current.encrypt(payload).decode("ascii")

    def _open(self, name: str, ciphertext: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            payload = json.loads(self.keys.fernet.decrypt(ciphertext.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeError):
            raise UndecryptableError(
                f"secret {name!r} cannot be decrypted with the configured keys "
                f"({', '.join(self.keys.ids)}): wrong or removed key, or a tampered row"
            ) from None
        if not isinstance(payload, dict) or payload.get("name") != name:
            raise UndecryptableError(f"secret {name!r}: its row holds another secret's value")
        value = payload.get("value")
        if not isinstance(value, str):
            raise UndecryptableError(f"secret {name!r}: malformed payload")
        return value

    def put(self, name: str, value: SecretStr | str) -> None:
        """Create or replace ``name``."""
        check_name(name)
        plain = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not plain:
            raise SecretsError(f"secret {name!r}: empty value refused")
        if len(plain.encode()) > MAX_VALUE_BYTES:
            raise SecretsError(f"secret {name!r}: value over {MAX_VALUE_BYTES} bytes")
        now = utcnow()
        row = {
            "name": name,
            "ciphertext": self._seal(name, plain),
            "key_id": self.keys.current_id,
            "created_at": now,
            "updated_at": now,
        }
        with self.store.begin() as conn:
            upsert(conn, t.secrets, [row], update=["ciphertext", "key_id", "updated_at"])

    def get(self, name: str) -> SecretStr | None:
        """The value of ``name``, or None when there is no such secret."""
        with self.store.read() as conn:
            got = conn.execute(
                select(t.secrets.c.ciphertext).where(t.secrets.c.name == name)
            ).scalar_one_or_none()
        return None if got is None else SecretStr(self._open(name, got))

    def list_secrets(self) -> list[SecretInfo]:
        with self.store.read() as conn:
            rows = conn.execute(
                select(
                    t.secrets.c.name,
                    t.secrets.c.created_at,
                    t.secrets.c.updated_at,
                    t.secrets.c.key_id,
                ).order_by(t.secrets.c.name)
            ).all()
        return [SecretInfo(r.name, r.created_at, r.updated_at, r.key_id) for r in rows]

    def delete(self, name: str) -> bool:
        """Remove ``name``; False when there was none."""
        with self.store.begin() as conn:
            done = conn.execute(delete(t.secrets).where(t.secrets.c.name == name))
        return bool(done.rowcount)

    def rotate(self) -> Rotation:
        """Re-seal every row under the current key, all in one transaction: if any row cannot
        be opened with the configured keys, nothing is changed."""
        moved = 0
        with self.store.begin() as conn:
            q = select(t.secrets.c.name, t.secrets.c.ciphertext, t.secrets.c.key_id)
            if conn.dialect.name == "postgresql":
                q = q.with_for_update()
            rows = conn.execute(q).all()
            for r in rows:
                self._open(r.name, r.ciphertext)  # refuses a row swapped between names
                token = self.keys.fernet.rotate(r.ciphertext.encode("ascii")).decode("ascii")
                moved += r.key_id != self.keys.current_id
                conn.execute(
                    update(t.secrets)
                    .where(t.secrets.c.name == r.name)
                    .values(ciphertext=token, key_id=self.keys.current_id)
                )
        return Rotation(len(rows), moved)


def open_secrets(store: Store, settings: Settings) -> SecretStore:
    """The secret store of these settings' keys (:class:`NoKeysError` when none is set)."""
    return SecretStore(store, keyring_from_settings(settings))
