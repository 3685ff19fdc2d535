"""Reference tables of the architecture documents, generated from the code so they cannot drift.

``render_blocks(lang)`` turns the bus topics (the settings' defaults), the event models of
:mod:`btcpulse.events` and the store's tables (:data:`btcpulse.store.schema.metadata`) into
Markdown, in English or French; ``regenerate`` replaces the text between
``<!-- generated:NAME:start -->`` and ``<!-- generated:NAME:end -->`` of a document with them
(``btcpulse docs`` does it for ``docs/architecture.md`` and ``docs/architecture.fr.md``).
Every table, topic and event needs a one-line role in :mod:`btcpulse.docs_roles`: a missing
one is an error.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from typing import Any, Literal, get_args, get_origin

from annotated_types import Gt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from sqlalchemy import Column, MetaData, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ClauseElement

from btcpulse.docs_roles import (
    EVENT_ROLES,
    FIELD_NOTES_FR,
    SOURCES,
    TABLE_ROLES,
    TOPIC_ROLES,
    VALIDATOR_NOTES,
    T,
)

Lang = Literal["en", "fr"]


class MissingRoleError(ValueError):
    """A table, topic, event or described field has no line in this module's dictionaries."""


def _t(key: str, lang: Lang, **kw: object) -> str:
    en, fr = T[key]
    return (en if lang == "en" else fr).format(**kw)


def _pick(pair: tuple[str, str], lang: Lang) -> str:
    return pair[0] if lang == "en" else pair[1]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def missing_roles(meta: MetaData) -> list[str]:
    """Everything the generator cannot describe: empty when the dictionaries are complete."""
    out = [f"table {n}" for n in sorted(meta.tables) if not all(TABLE_ROLES.get(n, ("", "")))]
    from btcpulse.config import Settings

    out += [
        f"topic {n}"
        for n in Settings.model_fields
        if n.startswith("topic_") and n not in TOPIC_ROLES
    ]
    for model in event_models():
        if model.__name__ not in EVENT_ROLES:
            out.append(f"event {model.__name__}")
        for name, f in model.model_fields.items():
            key = f"{model.__name__}.{name}"
            if f.description and key not in FIELD_NOTES_FR:
                out.append(f"field {key} (French note)")
    return out


# ---------------------------------------------------------------- events and topics


def event_models() -> list[type[BaseModel]]:
    """The models of the ``Event`` union, in its order."""
    from btcpulse.events import Event

    union = get_args(Event)[0]
    return [m for m in get_args(union) if isinstance(m, type) and issubclass(m, BaseModel)]


def _type_name(ann: Any) -> str:
    if ann is datetime:
        return "datetime"
    if get_origin(ann) is Literal:
        return (
            "Literal["
            + ", ".join(f'"{a}"' if isinstance(a, str) else str(a) for a in get_args(ann))
            + "]"
        )
    if isinstance(ann, type) and not get_args(ann):
        return ann.__name__
    return str(ann).replace("typing.", "")


def _field_rows(model: type[BaseModel], lang: Lang) -> list[str]:
    checks: dict[str, list[str]] = {}
    for dec in model.__pydantic_decorators__.field_validators.values():
        note = VALIDATOR_NOTES.get(dec.func.__name__, (f"`{dec.func.__name__}`",) * 2)
        for name in dec.info.fields:
            checks.setdefault(name, []).append(_pick(note, lang))
    rows = []
    for name, f in model.model_fields.items():
        notes: list[str] = []
        lo = next((m.min_length for m in f.metadata if isinstance(m, MinLen)), None)
        hi = next((m.max_length for m in f.metadata if isinstance(m, MaxLen)), None)
        if hi is not None:
            notes.append(_t("chars", lang, lo=lo, hi=hi) if lo else _t("max", lang, hi=hi))
        notes += [f"> {m.gt}" for m in f.metadata if isinstance(m, Gt)]
        notes += checks.get(name, [])
        if f.description:
            notes.append(
                f.description if lang == "en" else FIELD_NOTES_FR[f"{model.__name__}.{name}"]
            )
        if f.default_factory is not None:
            default = _t("now", lang)
        elif f.default is PydanticUndefined:
            default = _t("required", lang)
        else:
            default = f"`{json.dumps(f.default)}`"
        sep = "; " if lang == "en" else " ; "
        rows.append(
            f"| `{name}` | `{_type_name(f.annotation)}` | {default} | {_cell(sep.join(notes))} |"
        )
    return rows


def render_events(lang: Lang) -> str:
    from btcpulse.bus.factory import bus_topics
    from btcpulse.config import Settings

    defaults = Settings.model_construct()  # the code's defaults, never the environment
    parts = [_t("topic_h", lang), "|---|---:|---|---|---|---|"]
    partitions = bus_topics(defaults)
    for field, (events, key, prod, cons) in TOPIC_ROLES.items():
        topic = getattr(defaults, field)
        parts.append(
            f"| `{topic}` | {partitions[topic]} | {events} | {_pick(key, lang)} "
            f"| {_pick(prod, lang)} | {_pick(cons, lang)} |"
        )
    parts += ["", _t("partitions", lang)]
    for model in event_models():
        version = model.model_fields["schema_version"].default
        kind = model.model_fields["type"].default
        role = _pick(EVENT_ROLES[model.__name__], lang)
        parts += [
            "",
            _t("event", lang, name=model.__name__, kind=kind, v=version, role=role),
            "",
            _t("event_h", lang),
            "|---|---|---|---|",
            *_field_rows(model, lang),
        ]
    return "\n".join(parts)


# ---------------------------------------------------------------- store tables


@functools.cache
def _pg() -> Dialect:
    """PostgreSQL's dialect, made on first use (not at import)."""
    dialect: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return dialect


def _default(col: Column[Any]) -> str | None:
    for d in (col.default, col.server_default):
        arg = getattr(d, "arg", None)
        if arg is None or callable(arg):
            continue
        return str(arg.compile(dialect=_pg())) if isinstance(arg, ClauseElement) else repr(arg)
    return None


def _column_row(col: Column[Any], unique: set[str], lang: Lang) -> str:
    notes = []
    if col.primary_key:
        notes.append(_t("pk", lang))
    if col.unique or col.name in unique:
        notes.append(_t("unique", lang))
    default = _default(col)
    if default is not None:
        notes.append(f"{_t('default', lang)} `{default}`")
    null = _t("yes", lang) if col.nullable and not col.primary_key else _t("no", lang)
    return f"| `{col.name}` | {col.type.compile(dialect=_pg())} | {null} | {', '.join(notes)} |"


def _table_section(table: Table, lang: Lang) -> list[str]:
    unique = {i.columns[0].name for i in table.indexes if i.unique and len(i.columns) == 1}
    out = [
        "<details>",
        f"<summary><code>{table.name}</code>: "
        f"{_t('columns', lang, n=len(table.columns))}</summary>",
        "",
        _t("col_h", lang),
        "|---|---|---|---|",
        *(_column_row(c, unique, lang) for c in table.columns),
    ]
    indexes = sorted(table.indexes, key=lambda i: i.name or "")
    if indexes:
        listed = ", ".join(f"`{i.name}` ({', '.join(c.name for c in i.columns)})" for i in indexes)
        out += ["", f"{_t('index', lang)}: {listed}"]
    return [*out, "", "</details>", ""]


def render_tables(meta: MetaData, lang: Lang) -> str:
    """Every table of ``meta``: a summary (key, role), then each table's columns and indexes."""
    tables = [meta.tables[n] for n in sorted(meta.tables)]
    parts = [_t("table_h", lang), "|---|---|---|"]
    for tb in tables:
        pk = ", ".join(f"`{c.name}`" for c in tb.primary_key.columns)
        parts.append(f"| `{tb.name}` | {pk} | {_cell(_pick(TABLE_ROLES[tb.name], lang))} |")
    parts += ["", _t("types", lang), ""]
    for tb in tables:
        parts += _table_section(tb, lang)
    return "\n".join(parts)


# ---------------------------------------------------------------- documents


def render_blocks(lang: Lang, meta: MetaData | None = None) -> dict[str, str]:
    """The generated blocks of a document in ``lang``, by marker name."""
    if meta is None:
        from btcpulse.store.schema import metadata
    tables_meta: MetaData = metadata if meta is None else meta
    missing = missing_roles(tables_meta)
    if missing:
        raise MissingRoleError(
            "add a line to btcpulse.docs_tables (TABLE_ROLES, TOPIC_ROLES, EVENT_ROLES or"
            f" FIELD_NOTES_FR) for: {', '.join(missing)}"
        )
    events = render_events(lang)
    tables = render_tables(tables_meta, lang)
    return {
        "events": f"<!-- {_t('gen', lang, src=SOURCES['events'])} -->\n\n{events}",
        "tables": f"<!-- {_t('gen', lang, src=SOURCES['tables'])} -->\n\n{tables}",
    }


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with the part between the ``name`` markers replaced by ``content``."""
    start, end = f"<!-- generated:{name}:start -->", f"<!-- generated:{name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"expected one {start} ... {end} pair")
    return pattern.sub(lambda _m: f"{start}\n{content}\n{end}", text)


def regenerate(text: str, lang: Lang, meta: MetaData | None = None) -> str:
    """A document's text with every generated block brought up to date with the code."""
    for name, content in render_blocks(lang, meta).items():
        text = replace_block(text, name, content)
    return text
