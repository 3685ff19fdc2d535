"""The architecture documents: generated tables current with the code, Mermaid diagrams valid.

The reference tables of ``docs/architecture.md`` and ``docs/architecture.fr.md`` are generated
from the store's metadata, the event models and the settings (``btcpulse docs``); these tests
fail when the committed documents drift from the code or when something has no role to show.
Every Mermaid diagram of the documents is parsed by Mermaid itself in Debian's Chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table
from typer.testing import CliRunner

from btcpulse.cli import app
from btcpulse.cli_docs import DOCS, drifting_docs
from btcpulse.config import Settings
from btcpulse.docs_tables import (
    MissingRoleError,
    event_models,
    missing_roles,
    regenerate,
    render_blocks,
    render_events,
    render_tables,
    replace_block,
)
from btcpulse.store.schema import metadata

ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = ROOT / "docs"
MERMAID_JS = ROOT / "frontend" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FENCE = re.compile(r"^```mermaid[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def _section(text: str, table: str) -> str:
    start = text.index(f"<summary><code>{table}</code>")
    return text[start : text.index("</details>", start)]


# ------------------------------------------------------------------ generated tables


def test_every_table_topic_event_and_described_field_has_a_role() -> None:
    assert missing_roles(metadata) == [], (
        "add the missing lines to the dictionaries of src/btcpulse/docs_roles.py"
    )


def test_a_table_without_a_role_is_an_error() -> None:
    meta = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(meta)
    Table("made_up_table", meta, Column("id", Integer, primary_key=True))
    assert missing_roles(meta) == ["table made_up_table"]
    with pytest.raises(MissingRoleError, match="made_up_table"):
        render_blocks("en", meta)


def test_tables_show_every_column_with_type_key_and_nullability() -> None:
    for lang in ("en", "fr"):
        text = render_tables(metadata, lang)
        for table in metadata.tables.values():
            section = _section(text, table.name)
            for col in table.columns:
                assert f"| `{col.name}` |" in section, (lang, table.name, col.name)
    en = render_tables(metadata, "en")
    assert "| `updates` | `key` |" in en
    assert "| `seq` | BIGINT | no | unique |" in _section(en, "updates")
    assert "| `id` | VARCHAR(64) | no | primary key |" in _section(en, "news")
    assert "| `last_success` | TIMESTAMP WITH TIME ZONE | yes |" in _section(en, "source_health")
    assert "index: `ix_updates_time` (time)" in _section(en, "updates")
    fr = render_tables(metadata, "fr")
    assert "| table | clé primaire | rôle |" in fr
    assert "| `seq` | BIGINT | non | unique |" in _section(fr, "updates")


def test_a_new_table_in_the_metadata_shows_up() -> None:
    meta = MetaData()
    Table(
        "news",  # a known name, so it has a role
        meta,
        Column("id", String(10), primary_key=True),
        Column("added_later", Integer, nullable=True),
    )
    text = render_tables(meta, "en")
    assert "| `added_later` | INTEGER | yes |  |" in text
    assert "| `id` | VARCHAR(10) | no | primary key |" in text


def test_events_show_topics_fields_types_and_schema_version() -> None:
    defaults = Settings.model_construct()
    en, fr = render_events("en"), render_events("fr")
    for topic in (
        defaults.topic_news,
        defaults.topic_prices,
        defaults.topic_deadletters,
        defaults.topic_updates,
    ):
        assert f"| `{topic}` |" in en and f"| `{topic}` |" in fr
    assert f"| `{defaults.topic_news}` | {defaults.kafka_partitions} | NewsItem |" in en
    assert f"| `{defaults.topic_updates}` | 1 | AnalyticsUpdate |" in en
    models = event_models()
    assert [m.__name__ for m in models] == [
        "NewsItem",
        "Trade",
        "Bar",
        "AnalyticsUpdate",
        "DeadLetter",
    ]
    for model in models:
        version = model.model_fields["schema_version"].default
        assert f"**`{model.__name__}`**" in en
        assert f"`schema_version: {version}`" in en
        for name in model.model_fields:
            assert f"| `{name}` |" in en
    assert "| `price` | `str` | required | decimal string, finite as a float64, ≥ 0 |" in en
    assert '| `side` | `Literal["buy", "sell", "unknown"]` | `"unknown"` |' in en
    assert "| `time_estimated` | `bool` | `false` |" in en
    assert "| `price` | `str` | obligatoire | décimal en texte, fini en float64, ≥ 0 |" in fr


def test_replace_block_replaces_only_between_its_markers() -> None:
    text = "a\n<!-- generated:x:start -->\nold\n<!-- generated:x:end -->\nb\n"
    assert replace_block(text, "x", "new") == (
        "a\n<!-- generated:x:start -->\nnew\n<!-- generated:x:end -->\nb\n"
    )
    with pytest.raises(ValueError, match="generated:y:start"):
        replace_block(text, "y", "new")
    with pytest.raises(ValueError, match="generated:x:start"):
        replace_block(text + text, "x", "new")


def test_committed_documents_match_the_code() -> None:
    drifting = drifting_docs(DOCS_DIR, write=False)
    assert drifting == [], f"{drifting} differ from the code: run `btcpulse docs` and commit"
    for name, lang in DOCS.items():
        text = (DOCS_DIR / name).read_text(encoding="utf-8")
        assert regenerate(text, lang) == text


def test_cli_check_reports_a_drifting_document_and_the_rewrite_fixes_it(tmp_path: Path) -> None:
    for name in DOCS:
        shutil.copy(DOCS_DIR / name, tmp_path / name)
    french = tmp_path / "architecture.fr.md"
    committed = french.read_text(encoding="utf-8")
    french.write_text(committed.replace("| `seq` | BIGINT |", "| `seq` | TEXT |"), "utf-8")
    runner = CliRunner()

    checked = runner.invoke(app, ["docs", "--check", "--docs-dir", str(tmp_path)])
    assert checked.exit_code == 1, checked.output
    listed = [line for line in checked.output.splitlines() if "differ from the code" in line]
    assert listed == [f"{french}: generated tables differ from the code"]

    rewritten = runner.invoke(app, ["docs", "--docs-dir", str(tmp_path)])
    assert rewritten.exit_code == 0, rewritten.output
    assert french.read_text(encoding="utf-8") == committed
    again = runner.invoke(app, ["docs", "--check", "--docs-dir", str(tmp_path)])
    assert again.exit_code == 0, again.output

    french.write_text(committed.replace("<!-- generated:tables:end -->", ""), "utf-8")
    broken = runner.invoke(app, ["docs", "--check", "--docs-dir", str(tmp_path)])
    assert broken.exit_code == 2
    assert "generated:tables" in broken.output


# ------------------------------------------------------------------ Mermaid diagrams


def mermaid_blocks() -> list[tuple[str, str]]:
    """(where, text) of every Mermaid block of the documents, README and decision records."""
    files = [ROOT / "README.md", *sorted(DOCS_DIR.glob("*.md"))]
    files += sorted((DOCS_DIR / "decisions").glob("*.md"))
    out = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append((f"{path.relative_to(ROOT)}:{line}", m.group(1)))
    return out


def test_mermaid_blocks_are_found() -> None:
    blocks = mermaid_blocks()
    for name in DOCS:
        # a flowchart of the flow, two sequence diagrams and the deployment comparison
        assert sum(where.startswith(f"docs/{name}:") for where, _ in blocks) >= 4, name


PARSE_ALL = """async (texts) => {
  mermaid.initialize({ startOnLoad: false });
  const out = [];
  for (const text of texts) {
    try {
      const ok = await mermaid.parse(text);
      out.push(ok ? null : "mermaid.parse returned " + JSON.stringify(ok));
    } catch (e) {
      out.push(String((e && e.message) || e));
    }
  }
  return out;
}"""

BROKEN = [
    "flowchart LR\n  a[not closed --> b\n",
    "sequenceDiagram\n  participant A\n  A->>: to nobody\n  end\n",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("BTCPULSE_REQUIRE_BROWSER"):  # CI installs everything: never skip there
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.mark.browser
def test_every_mermaid_diagram_parses_in_chromium() -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing")
    if not CHROMIUM.exists():
        _unavailable(f"Debian Chromium is not installed ({CHROMIUM} is missing)")
    if not MERMAID_JS.exists():
        _unavailable(f"{MERMAID_JS} is missing: run `npm ci` in frontend/")
    blocks = mermaid_blocks()
    texts = [text for _, text in blocks] + BROKEN
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.set_content("<!doctype html><html><body></body></html>")
            page.add_script_tag(path=str(MERMAID_JS))
            results = page.evaluate(PARSE_ALL, texts)
        finally:
            browser.close()
    version = json.loads((MERMAID_JS.parents[1] / "package.json").read_text())["version"]
    print(
        f"mermaid {version}: {len(blocks)} diagrams parsed; broken ones: {results[len(blocks) :]}"
    )
    assert len(results) == len(texts)
    parsed = zip(blocks, results[: len(blocks)], strict=True)
    failures = [f"{where}: {err}" for (where, _), err in parsed if err is not None]
    assert failures == [], "\n".join(failures)
    # The parser really rejects broken diagrams (this test would otherwise pass on anything).
    for text, err in zip(BROKEN, results[len(blocks) :], strict=True):
        assert err, f"a broken diagram was accepted: {text!r}"
