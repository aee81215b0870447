"""Read-side queries the dashboard pages need beyond :mod:`vibedash.registry.records`, and the comparison of versions.

Every function takes a ``Session`` and returns plain, picklable values (dataclasses, dicts, lists), so a
page can cache them with ``st.cache_data``. Nothing here writes. Queries that could touch every version
(the best candidate, the trend, the history filters) stay in SQL with a ``LIMIT`` or an aggregate: the
registry may hold 100,000 versions.

The code lives in one module per page concern; this module gathers their names so that
``from vibedash.registry import queries`` offers all of them:

- :mod:`~vibedash.registry.overview_queries`: live now, the best candidate, the trend, the overview
- :mod:`~vibedash.registry.history_queries`: history filter choices, score counts, live changes
- :mod:`~vibedash.registry.version_queries`: one version's detail and audit trail
- :mod:`~vibedash.registry.compare_queries`: version pickers, facts and the comparison
"""

from __future__ import annotations

from vibedash.registry.compare_queries import (
    CompareChoices,
    Comparison,
    ScoreDiff,
    VersionChoice,
    compare_choices,
    compare_versions,
    facts_of,
    newest_scored_version,
    protocol_difference,
    resolve_shas,
    version_choices,
)
from vibedash.registry.history_queries import (
    LIVE_CHANGE_KINDS,
    deploy_contexts,
    deploy_states,
    headline_result_counts,
    live_changes,
    recent_headline_counts,
)
from vibedash.registry.overview_queries import (
    CandidateSummary,
    LiveNow,
    Overview,
    best_candidate,
    lead_benchmark,
    live_now,
    overview,
    policy_fingerprint,
    trend,
    went_live_at,
)
from vibedash.registry.version_queries import (
    ResultDetail,
    VersionDetail,
    audit_trail,
    solve_runs_for_version,
    version_detail,
)

__all__ = [
    "LIVE_CHANGE_KINDS", "CandidateSummary", "CompareChoices", "Comparison", "LiveNow", "Overview", "ResultDetail",
    "ScoreDiff", "VersionChoice", "VersionDetail", "audit_trail", "best_candidate", "compare_choices",
    "compare_versions", "deploy_contexts", "deploy_states", "facts_of", "headline_result_counts", "lead_benchmark",
    "live_changes", "live_now", "newest_scored_version", "overview", "policy_fingerprint", "protocol_difference",
    "recent_headline_counts", "resolve_shas", "solve_runs_for_version", "trend", "version_choices", "version_detail",
    "went_live_at",
]
