"""The news source registry: package defaults, the user's file, then ``BTCPULSE_NEWS_FEEDS``.

Precedence (later wins, field by field for a source of the same name):

1. ``sources.yaml`` in this package (the outlets, Reddit, Hacker News, CryptoPanic);
2. the user's YAML file (``BTCPULSE_NEWS_SOURCES_FILE``), same shape; ``include_defaults:
   false`` at its top drops the package list;
3. ``BTCPULSE_NEWS_FEEDS`` (``NAME=URL`` entries): each is an enabled RSS/Atom source polled
   every ``BTCPULSE_NEWS_POLL_INTERVAL_S``; a name already known gets that URL.

Nothing is read at import time: call :func:`load_sources`.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)

from btcpulse.config import Settings

Kind = Literal["rss", "reddit", "hn", "cryptopanic"]
KINDS: tuple[Kind, ...] = ("rss", "reddit", "hn", "cryptopanic")


class Source(BaseModel):
    """One polled source. ``name`` is the ``source`` of its items and of its health row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
    kind: Kind = "rss"
    url: str = Field(min_length=8, max_length=2000)
    interval_s: float = Field(default=60.0, ge=1.0, le=86_400.0)
    enabled: bool = True
    token_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    token_param: str = "auth_token"  # noqa: S105 (a parameter name, not a secret)
    lang: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    """The language the source publishes in (ISO 639-1), given to its items; detection from
    the text still wins where it is confident. None: the feed's own ``<language>``, else en."""
    _stored_token: SecretStr | None = PrivateAttr(default=None)  # from the secret store

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value

    @field_validator("name")
    @classmethod
    def _not_replay(cls, value: str) -> str:
        if value.lower().startswith("replay"):
            raise ValueError("source names starting with 'replay' are reserved for the replay")
        return value

    @property
    def secret_name(self) -> str:
        """Where the secret store keeps this source's token (``btcpulse secrets set``)."""
        return f"source:{self.name}:{self.token_param}"

    def with_token(self, token: SecretStr) -> Source:
        """A copy using ``token`` (read from the secret store) instead of ``token_env``."""
        out = self.model_copy()
        out._stored_token = token
        return out

    def token(self) -> str | None:
        """The API token: from the secret store (:meth:`with_token`), else the environment,
        else None (the source then stays off)."""
        if self.token_env is None:
            return None
        if self._stored_token is not None:
            return self._stored_token.get_secret_value()
        return os.environ.get(self.token_env) or None

    @property
    def off_reason(self) -> str | None:
        """Why this source is not polled, or None when it is."""
        if not self.enabled:
            return "disabled"
        if self.token_env is not None and self.token() is None:
            return f"no token: set {self.token_env}"
        return None

    @property
    def active(self) -> bool:
        return self.off_reason is None


class RegistryError(ValueError):
    """A registry file that cannot be used, with the file and the reason."""


def guess_kind(url: str) -> Kind:
    """The parser a bare URL needs (``collect news --feed URL``)."""
    parts = urlsplit(url)
    host = parts.netloc.lower()
    if host.endswith("reddit.com") and parts.path.endswith(".json"):
        return "reddit"
    if host == "hn.algolia.com":
        return "hn"
    if host.endswith("cryptopanic.com") and "/api/" in parts.path:
        return "cryptopanic"
    return "rss"


def adhoc_source(spec: str, settings: Settings) -> Source:
    """A source from ``NAME=URL`` or a bare URL (named after its host)."""
    name, sep, url = spec.partition("=")
    if not sep or "://" in name:
        host = urlsplit(spec).netloc.lower().rpartition("@")[2]
        name, url = re.sub(r"[^a-z0-9_.\-]", "-", host).strip("-.") or "feed", spec
    return Source(
        name=name.strip(),
        kind=guess_kind(url.strip()),
        url=url.strip(),
        interval_s=settings.news_poll_interval_s,
    )


def _entries(raw: Any, origin: str) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(raw, dict) or not isinstance(raw.get("sources", []), list):
        raise RegistryError(f"{origin}: expected a mapping with a 'sources' list")
    unknown = set(raw) - {"sources", "include_defaults"}
    if unknown:
        raise RegistryError(f"{origin}: unknown top-level keys {sorted(unknown)}")
    entries = raw.get("sources") or []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise RegistryError(f"{origin}: source #{i + 1} needs a 'name'")
    return entries, bool(raw.get("include_defaults", True))


def _read_yaml(text: str, origin: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"{origin}: not valid YAML: {exc}") from exc


def package_entries() -> list[dict[str, Any]]:
    text = (
        resources.files("btcpulse.collectors.news")
        .joinpath("sources.yaml")
        .read_text(encoding="utf-8")
    )
    return _entries(_read_yaml(text, "sources.yaml"), "sources.yaml")[0]


def load_sources(settings: Settings, user_file: Path | None = None) -> list[Source]:
    """Every known source (active or not), merged as the module docstring says."""
    merged: dict[str, dict[str, Any]] = {}
    path = user_file or settings.news_sources_file
    user: list[dict[str, Any]] = []
    include_defaults = True
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RegistryError(f"{path}: cannot read the news sources file: {exc}") from exc
        user, include_defaults = _entries(_read_yaml(text, str(path)), str(path))
    if include_defaults:
        for e in package_entries():
            merged[e["name"]] = dict(e)
    for e in user:
        merged.setdefault(e["name"], {}).update(e)
    for name, url in settings.feeds():
        merged.setdefault(name, {"kind": "rss", "interval_s": settings.news_poll_interval_s})
        merged[name].update(name=name, url=url, enabled=True)
    out = []
    for name, e in merged.items():
        e.setdefault("interval_s", settings.news_poll_interval_s)
        try:
            out.append(Source.model_validate(e))
        except ValidationError as exc:
            why = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in exc.errors())
            raise RegistryError(f"news source {name!r}: {why}") from exc
    return out


def select_sources(sources: list[Source], names: list[str]) -> list[Source]:
    """The named sources (even if disabled: naming one asks for it); unknown names refused."""
    by_name = {s.name: s for s in sources}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise RegistryError(f"unknown news source(s) {missing}; known: {sorted(by_name)}")
    return [by_name[n].model_copy(update={"enabled": True}) for n in names]
