"""``btcpulse docs``: bring the generated tables of the architecture documents up to date.

``btcpulse docs`` rewrites the blocks between ``<!-- generated:NAME:start/end -->`` markers of
``docs/architecture.md`` (English) and ``docs/architecture.fr.md`` (French) from the code;
``--check`` changes nothing and exits 1 listing the documents that drift from the code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from btcpulse.docs_tables import Lang

DOCS: dict[str, Lang] = {"architecture.md": "en", "architecture.fr.md": "fr"}


def drifting_docs(docs_dir: Path, *, write: bool) -> list[Path]:
    """The documents of ``docs_dir`` whose generated blocks differ from the code; with
    ``write`` they are rewritten. Raises ``OSError``/``ValueError`` for a missing document,
    missing markers or a table, topic or event without a role."""
    from btcpulse.docs_tables import regenerate

    drifting = []
    for name, lang in DOCS.items():
        path = docs_dir / name
        text = path.read_text(encoding="utf-8")
        new = regenerate(text, lang)
        if new != text:
            drifting.append(path)
            if write:
                path.write_text(new, encoding="utf-8")
    return drifting


def docs(
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 if a document drifts.")
    ] = False,
    docs_dir: Annotated[
        Path, typer.Option(help="Folder of architecture.md and architecture.fr.md.")
    ] = Path("docs"),
) -> None:
    """Regenerate the topic, event and table references of the architecture documents."""
    try:
        drifting = drifting_docs(docs_dir, write=not check)
    except (OSError, ValueError) as exc:
        typer.echo(f"btcpulse docs: {exc}", err=True)
        raise typer.Exit(2) from exc
    if check and drifting:
        for path in drifting:
            typer.echo(f"{path}: generated tables differ from the code", err=True)
        typer.echo("run `btcpulse docs` to regenerate them", err=True)
        raise typer.Exit(1)
    for path in drifting:
        typer.echo(f"updated {path}")
    if not drifting:
        typer.echo("documents up to date")
