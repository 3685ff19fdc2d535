"""``btcpulse secrets``: secrets encrypted at rest in the store (keys: BTCPULSE_SECRET_KEYS).

A value is read from standard input or a hidden prompt, never from the command line (where
``ps`` and the shell history would see it), and is never printed back.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from btcpulse.security.secrets import SecretStore

secrets_app = typer.Typer(
    help="Secrets encrypted at rest in the store (API tokens of the sources...); keys from "
    "BTCPULSE_SECRET_KEYS (comma-separated, the first current) or BTCPULSE_SECRET_KEYS_FILE.",
    no_args_is_help=True,
)


def _open() -> SecretStore:
    from btcpulse.cli import _settings, _store
    from btcpulse.security.secrets import SecretsError, open_secrets

    s = _settings()
    try:
        return open_secrets(_store(s), s)
    except SecretsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _read_value() -> str:
    if sys.stdin.isatty():
        value: str = typer.prompt("value", hide_input=True, confirmation_prompt=True)
        return value
    value = sys.stdin.read()
    return value[:-2] if value.endswith("\r\n") else value.removesuffix("\n")


@secrets_app.command("set")
def set_secret(
    name: Annotated[str, typer.Argument(help="e.g. source:cryptopanic:auth_token")],
) -> None:
    """Store NAME (created or replaced); the value comes from stdin or a hidden prompt."""
    from btcpulse.security.secrets import SecretsError, check_name

    try:
        check_name(name)
    except SecretsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    secrets = _open()
    try:
        secrets.put(name, _read_value())
    except SecretsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{name}: stored (key {secrets.keys.current_id})")


@secrets_app.command("list")
def list_secrets() -> None:
    """Names, times and the key that sealed each one (never a value)."""
    secrets = _open()
    rows = secrets.list_secrets()
    if not rows:
        typer.echo("no secrets")
        return
    width = max(len(r.name) for r in rows)
    for r in rows:
        key = "current" if r.key_id == secrets.keys.current_id else "OLD (run rotate)"
        typer.echo(
            f"{r.name:<{width}}  updated {r.updated_at:%Y-%m-%d %H:%M:%S} UTC  key {r.key_id} {key}"
        )


@secrets_app.command("rotate")
def rotate() -> None:
    """Re-seal every secret under the first key (one transaction). Then the old keys can be
    removed from BTCPULSE_SECRET_KEYS."""
    from btcpulse.security.secrets import SecretsError

    secrets = _open()
    try:
        done = secrets.rotate()
    except SecretsError as exc:
        typer.echo(f"error: {exc}; nothing was changed", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{done.rows} secret(s) re-sealed under key {secrets.keys.current_id} "
        f"({done.moved} were under an older key)"
    )


@secrets_app.command("delete")
def delete_secret(name: str) -> None:
    """Remove NAME (exit 1 if there is no such secret)."""
    if not _open().delete(name):
        typer.echo(f"error: no secret {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{name}: deleted")
