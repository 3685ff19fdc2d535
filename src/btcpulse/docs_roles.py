"""The written side of the generated reference tables (:mod:`btcpulse.docs_tables`): the
one-line role of every store table, topic and event, notes on fields and validators, and the
tables' English and French wording. A table, topic or event added to the code needs its line
here (``btcpulse docs --check`` and ``tests/test_docs.py`` fail without it)."""

from __future__ import annotations

SOURCES = {
    "events": "`btcpulse.events` + `btcpulse.config`",
    "tables": "`btcpulse.store.schema.metadata`",
}

# One line per store table: what its rows are (English, French).
TABLE_ROLES: dict[str, tuple[str, str]] = {
    "alerts": (
        "Alerts raised by the rules (index crossings, bursts, price moves), one row per alert.",
        "Alertes levées par les règles (seuils de l'indice, pics, variations de prix).",
    ),
    "bars": (
        "Venue candles received as `Bar` events (REST backfill, replay), before the rollup.",
        "Bougies des plateformes reçues en `Bar` (rattrapage REST, rejeu), avant l'agrégation.",
    ),
    "bursts": (
        "Volume of a topic or term per window against its trailing baseline (z-score).",
        "Volume d'un thème ou d'un terme par fenêtre face à sa moyenne glissante (score z).",
    ),
    "candles": (
        "OHLCV candles at every resolution (1 s to 1 d), per venue and composite: the rollups.",
        "Bougies OHLCV à chaque résolution (1 s à 1 j), par plateforme et composite : agrégats.",
    ),
    "collector_state": (
        "Named JSON state: collector cursors, seen ids, ETags, prune and retention marks, rules.",
        "État JSON nommé : curseurs des collecteurs, ids vus, ETag, marques de purge, règles.",
    ),
    "composite_flags": (
        "Per composite window: the venues counted and those left out (outlier, missing, stale).",
        "Par fenêtre composite : plateformes comptées et écartées (aberrante, absente, périmée).",
    ),
    "engine_offsets": (
        "Bus offsets consumed, written with the results (embedded truth; Spark batch mark).",
        "Positions lues sur le bus, écrites avec les résultats (vérité embarquée ; lot Spark).",
    ),
    "enrichments": (
        "Headline sentiment per article and per model version.",
        "Sentiment du titre par article et par version de modèle.",
    ),
    "errors": (
        "Dead letters: what could not be used, with the stage, source and reason.",
        "Lettres mortes : ce qui n'a pas pu servir, avec l'étape, la source et la raison.",
    ),
    "impacts": (
        "Price move 1 min, 5 min and 1 h after each article.",
        "Mouvement du prix 1 min, 5 min et 1 h après chaque article.",
    ),
    "index_values": (
        "The 0-100 sentiment index per minute, its components and the headlines that moved it.",
        "Indice de sentiment 0-100 par minute, ses composantes, les titres qui l'ont fait varier.",
    ),
    "logs": (
        "Warnings and errors of every process (JSON fields), for the operators.",
        "Avertissements et erreurs de chaque processus (champs JSON), pour l'exploitation.",
    ),
    "news": (
        "Articles and posts, keyed by the hash of the canonical URL.",
        "Articles et messages, identifiés par le hachage de l'URL canonique.",
    ),
    "news_stories": (
        "Which story each article belongs to.",
        "L'histoire à laquelle appartient chaque article.",
    ),
    "news_tags": (
        "Topics and entities of each article, with the tagger version.",
        "Thèmes et entités de chaque article, avec la version de l'étiqueteur.",
    ),
    "secrets": (
        "Secrets (such as tokens) encrypted at rest with Fernet.",
        "Secrets (jetons, etc.) chiffrés au repos avec Fernet.",
    ),
    "source_health": (
        "Health of every source, venue and process: status, last success and error, metrics.",
        "Santé de chaque source, plateforme et processus : état, dernier succès, erreur, mesures.",
    ),
    "stories": (
        "Stories: the same event told by several outlets, with source count and first reporter.",
        "Histoires : un même fait relaté par plusieurs médias, nombre de sources, premier auteur.",
    ),
    "trades": (
        "Raw trades per venue (kept 7 days by default), the input of the 1 s candles.",
        "Transactions brutes par plateforme (7 jours par défaut), source des bougies de 1 s.",
    ),
    "updates": (
        "Keyed snapshots pushed to browsers; `seq` orders them for catch-up.",
        "Instantanés à clé poussés aux navigateurs ; `seq` les ordonne pour le rattrapage.",
    ),
}

# The topics: settings field -> (events carried, message key, producers, consumers), en / fr.
TOPIC_ROLES: dict[str, tuple[str, tuple[str, str], tuple[str, str], tuple[str, str]]] = {
    "topic_news": (
        "NewsItem",
        ("article id", "id de l'article"),
        ("news pollers, article stage, replay", "collecteurs d'actualités, articles, rejeu"),
        ("engine", "moteur"),
    ),
    "topic_prices": (
        "Trade, Bar",
        ("`venue:symbol`", "`venue:symbol`"),
        ("price streams, backfill, replay", "flux de prix, rattrapage, rejeu"),
        ("engine", "moteur"),
    ),
    "topic_deadletters": (
        "DeadLetter",
        ("error id", "id de l'erreur"),
        ("collectors, engine", "collecteurs, moteur"),
        ("engine (→ `errors`)", "moteur (→ `errors`)"),
    ),
    "topic_updates": (
        "AnalyticsUpdate",
        ("update key", "clé de la mise à jour"),
        ("engine", "moteur"),
        ("every web replica (whole topic)", "chaque réplique web (tout le topic)"),
    ),
}

EVENT_ROLES: dict[str, tuple[str, str]] = {
    "NewsItem": ("A news article or post.", "Un article ou un message d'actualité."),
    "Trade": ("One trade on a venue.", "Une transaction sur une plateforme."),
    "Bar": (
        "A venue candle (backfill, replay).",
        "Une bougie d'une plateforme (rattrapage, rejeu).",
    ),
    "AnalyticsUpdate": (
        "An idempotent keyed snapshot for the dashboard.",
        "Un instantané idempotent à clé pour le tableau de bord.",
    ),
    "DeadLetter": (
        "Something unusable, with the reason.",
        "Un élément inutilisable, avec la raison.",
    ),
}

# French for the fields that carry a ``description``.
FIELD_NOTES_FR: dict[str, str] = {
    "NewsItem.body": "Texte complet de l'article, s'il a été récupéré.",
    "NewsItem.time_estimated": "Vrai si la source ne donnait pas l'heure : heure de collecte.",
}

VALIDATOR_NOTES: dict[str, tuple[str, str]] = {
    "_aware": ("UTC, timezone-aware", "UTC, avec fuseau"),
    "_decimal_string": (
        "decimal string, finite as a float64, ≥ 0",
        "décimal en texte, fini en float64, ≥ 0",
    ),
    "_tiles_a_day": ("divides a day (86,400 s)", "divise un jour (86 400 s)"),
}

T: dict[str, tuple[str, str]] = {
    "gen": (
        "Generated by `btcpulse docs` from {src}: do not edit by hand.",
        "Généré par `btcpulse docs` depuis {src} : ne pas modifier à la main.",
    ),
    "topic_h": (
        "| topic | partitions | events | key | producers | consumers |",
        "| topic | partitions | événements | clé | producteurs | consommateurs |",
    ),
    "event_h": (
        "| field | type | default | constraints |",
        "| champ | type | défaut | contraintes |",
    ),
    "table_h": ("| table | primary key | role |", "| table | clé primaire | rôle |"),
    "col_h": ("| column | type | null | notes |", "| colonne | type | null | notes |"),
    "required": ("required", "obligatoire"),
    "now": ("now (UTC)", "maintenant (UTC)"),
    "yes": ("yes", "oui"),
    "no": ("no", "non"),
    "pk": ("primary key", "clé primaire"),
    "unique": ("unique", "unique"),
    "default": ("default", "défaut"),
    "index": ("index", "index"),
    "chars": ("{lo} to {hi} chars", "{lo} à {hi} caractères"),
    "max": ("≤ {hi} chars", "≤ {hi} caractères"),
    "columns": ("{n} columns", "{n} colonnes"),
    "event": (
        '**`{name}`** (`type: "{kind}"`, `schema_version: {v}`): {role}',
        '**`{name}`** (`type: "{kind}"`, `schema_version: {v}`) : {role}',
    ),
    "types": (
        "Types as created on PostgreSQL; SQLite gets the same schema (timestamps as UTC text).",
        "Types tels que créés sur PostgreSQL ; SQLite a le même schéma (horodatages en texte UTC).",
    ),
    "partitions": (
        "Partitions as `btcpulse spark topics` creates them (`BTCPULSE_KAFKA_PARTITIONS`).",
        "Partitions telles que `btcpulse spark topics` les crée (`BTCPULSE_KAFKA_PARTITIONS`).",
    ),
}
