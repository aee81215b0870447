"""Record and query versions, deploys and results: the registry's writes and basic reads, in one namespace.

Writers take a ``Session`` (the caller owns the transaction, one per unit of work); readers return plain
dataclasses, dicts or facts, never ORM objects that outlive their session.

The code lives in one module per responsibility; this module gathers their names so that
``from vibedash.registry import records as registry`` offers all of them:

- :mod:`~vibedash.registry.versions`: find and record versions; ``RegistryError``, ``NotFound``, sha checks
- :mod:`~vibedash.registry.deploys`: record, find and mark live deploys; deploy facts for retention
- :mod:`~vibedash.registry.results`: import results; headline scores and a version's facts
- :mod:`~vibedash.registry.version_history`: history paged in SQL, score timeline, branches, live periods
- :mod:`~vibedash.registry.candidate_ranking`: candidates newest first or ranked by score
- :mod:`~vibedash.registry.whole_registry`: counts, audit events, export
- :mod:`~vibedash.registry.skip_scan`: distinct values of an indexed column
"""

from __future__ import annotations

from vibedash.registry.candidate_ranking import (
    BEST_CANDIDATE_FIRST_BATCH,
    best_candidate,
    candidates,
    ranked_candidates,
)
from vibedash.registry.deploys import (
    DEPLOY_FIELDS,
    IS_LIVE,
    deploy_facts,
    find_deploy,
    live_deploy,
    set_live,
    upsert_deploy,
)
from vibedash.registry.results import (
    PRIMARY_METRIC_PREFERENCE,
    benchmarks_in_registry,
    file_sha256,
    import_results,
    primary_scores,
    version_facts,
    versions_facts,
)
from vibedash.registry.skip_scan import distinct_values
from vibedash.registry.version_history import (
    HistoryFilter,
    branches,
    history_page,
    live_periods,
    score_timeline,
)
from vibedash.registry.versions import (
    SHA_RE,
    NotFound,
    RegistryError,
    find_version,
    normalize_sha,
    record_version,
    short,
)
from vibedash.registry.whole_registry import (
    RegistryCounts,
    count_events,
    counts,
    event_dict,
    events,
    export_registry,
)

__all__ = [
    "BEST_CANDIDATE_FIRST_BATCH", "DEPLOY_FIELDS", "IS_LIVE", "PRIMARY_METRIC_PREFERENCE", "SHA_RE",
    "HistoryFilter", "NotFound", "RegistryCounts", "RegistryError",
    "benchmarks_in_registry", "best_candidate", "branches", "candidates", "count_events", "counts", "deploy_facts",
    "distinct_values", "event_dict", "events", "export_registry", "file_sha256", "find_deploy", "find_version",
    "history_page", "import_results", "live_deploy", "live_periods", "normalize_sha", "primary_scores",
    "ranked_candidates", "record_version", "score_timeline", "set_live", "short", "upsert_deploy",
    "version_facts", "versions_facts",
]
