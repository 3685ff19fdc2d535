"""API tokens of the news sources from the secret store, falling back to the environment.

A source that needs a token (``token_env`` in the registry) first looks for the secret
``source:<name>:<token_param>`` (e.g. ``source:cryptopanic:auth_token``, set with
``btcpulse secrets set``), then for its environment variable. With no secret keys configured
the store is not consulted; a secret that cannot be opened is reported (by name, never by
value) and the environment is used instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from btcpulse.security.secrets import NoKeysError, SecretsError, open_secrets

if TYPE_CHECKING:
    from btcpulse.collectors.news.registry import Source
    from btcpulse.config import Settings
    from btcpulse.store.db import Store

log = structlog.get_logger("news")


def with_stored_tokens(sources: list[Source], store: Store, settings: Settings) -> list[Source]:
    """``sources``, those that need a token given the stored one where there is one."""
    if not any(s.token_env is not None for s in sources):
        return sources
    try:
        secrets = open_secrets(store, settings)
    except NoKeysError:
        log.debug("news.secret_store_off", reason="no secret keys configured")
        return sources
    except SecretsError as exc:
        log.warning("news.secret_store_unusable", reason=str(exc))
        return sources
    out: list[Source] = []
    for src in sources:
        value = None
        if src.token_env is not None:
            try:
                value = secrets.get(src.secret_name)
            except SecretsError as exc:
                log.warning(
                    "news.stored_token_unusable",
                    source=src.name,
                    stored_as=src.secret_name,
                    reason=str(exc),
                    fallback=src.token_env,
                )
        if value is not None:
            log.info("news.token_from_secret_store", source=src.name, stored_as=src.secret_name)
            out.append(src.with_token(value))
        else:
            out.append(src)
    return out
