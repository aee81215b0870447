"""The retention plan of a whole registry, without holding its deploys in memory.

:func:`vibedash.decisions.retention.plan_retention` decides every deploy it is given. A registry of a million
deploys is planned here with the same rules and the same :func:`~vibedash.decisions.retention.decide`, from
narrow reads (:mod:`vibedash.registry.retention_facts`):

* the version rules judge one row per version (vectorised: a hundred thousand versions in a fraction of a second);
* the deploy rules run over the few deploys they can keep (live, pinned, building, once live, young, newest
  on a branch);
* every other deploy's decision follows from its own row and its version's verdict: expired, a failed build,
  its version's representative (kept for its merit), a duplicate of the deploy that keeps its version, or
  pruned for its version's faults. So the counts come from per-version figures, and a page of decisions is a
  page of rows read in SQL and decided as it is shown.

What stays in memory is proportional to the versions (a few arrays), never to the deploys or the audit log.
A plan is made once per registry generation (:func:`vibedash.registry.action_queries.registry_plan`).
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine

from vibedash.decisions.retention import (
    DUPLICATE,
    FAILED,
    GATE_FAILED,
    GATE_PASSED,
    GATE_UNKNOWN,
    Decision,
    Keeps,
    KeptDeploy,
    PlanView,
    RetentionPolicy,
    VersionContext,
    VersionTable,
    chosen_benchmarks,
    decide,
    judge_gate_again,
    judge_versions,
    keep_grace,
    keep_live_pinned_building,
    keep_newest_per_branch,
    keep_rollback_targets,
    live_warning,
    restorable,
    summarise,
)
from vibedash.decisions.retention_terms import FAILED_STATES, FRONTIER, GATE, NEW_BEST
from vibedash.registry import retention_facts as facts
from vibedash.registry.db import unit_of_work
from vibedash.registry.retention_layout import (
    VersionKeys,
    newest_per_branch,
    same_table,
    sort_newest_first_pairs,
)
from vibedash.registry.retention_snapshot import read_snapshot

PAGE = 500


class RegistryPlan(PlanView):
    """A retention plan read from the registry: counts and verdicts in memory, decisions a page at a time."""

    def __init__(self, engine: Engine, policy: RetentionPolicy, now: datetime,
                 previous: RegistryPlan | None = None) -> None:
        """``previous``: a plan of the same registry made earlier (any generation, any policy); this one then
        reads only the versions changed since, and reuses its version verdicts when nothing they judge changed."""
        if now.tzinfo is None:
            raise ValueError("RegistryPlan: now is a naive datetime; pass a timezone-aware one")
        self.engine, self.policy, self.now = engine, policy, now
        # what page caches key on: the same for every copy bound to another engine (see bound_to)
        self.cache_identity = object()
        with unit_of_work(engine) as session:
            self._read(session, previous)

    @property
    def instance(self) -> str:
        """The id of the database this plan was read from (its registry_state instance)."""
        return self._snapshot.instance

    def bound_to(self, engine: Engine) -> RegistryPlan:
        """This plan reading its pages through ``engine``: a plan is cached by the registry's instance and
        generation, which a copy of the registry file shares, so each caller reads through its own engine."""
        if engine is self.engine:
            return self
        bound = copy.copy(self)
        bound.engine = engine
        return bound

    # --- building -----------------------------------------------------------------------------------------

    def _read(self, session, previous: RegistryPlan | None) -> None:
        policy, now = self.policy, self.now
        self._snapshot, self.patched = read_snapshot(session, previous._snapshot if previous is not None else None)
        figures = self._snapshot.figures
        benchmarks, scores = self._snapshot.scored()
        self._last_live = facts.last_live_times(session)
        loose = facts.deploys_without_version(session, self._last_live)  # each a version of its own
        head_pks = newest_per_branch(facts.branch_heads(session, policy.keep_newest_per_branch), loose,
                                     policy.keep_newest_per_branch)
        grace_start = now - timedelta(days=policy.grace_days) if policy.grace_days else None
        candidates = facts.candidates_for_deploy_rules(session, self._last_live, grace_start, head_pks)

        # versions: those with a commit, by version id, then the deploys without one (keys "deploy:<id>")
        n_sha = len(figures.version_ids)
        self._version_ids = figures.version_ids
        self._loose_index = {row.facts.netlify_id: n_sha + k for k, row in enumerate(loose)}
        shas: list[str | None] = [*figures.shas, *(None for _ in loose)]
        self._branches = [*figures.branches, *(r.facts.branch for r in loose)]
        keys = VersionKeys(shas, [f"deploy:{r.facts.netlify_id}" for r in loose])
        loose_at = facts.as_datetime64([r.facts.created_at for r in loose])
        appeared = np.concatenate([figures.first_deploy, loose_at]).astype("datetime64[us]").astype(np.int64)
        newest = np.concatenate([figures.newest_deploy, loose_at]).astype("datetime64[us]").astype(np.int64)
        loose_facts = [r.facts for r in loose]

        def column(values, loose_values) -> np.ndarray:
            return np.concatenate([values, np.array(loose_values, dtype=np.int64)]).astype(np.int64)

        self._deploys = column(figures.deploys, [1] * len(loose))
        self._expired = column(figures.expired, [int(d.expired and not d.is_live) for d in loose_facts])
        self._failed_open = column(figures.failed_open, [int(not d.expired and d.state in FAILED_STATES)
                                                         for d in loose_facts])
        self._restorable_open = column(figures.restorable_open, [int(restorable(d)) for d in loose_facts])
        gate = np.concatenate([np.select([figures.gate == facts.GATE_YES, figures.gate == facts.GATE_NO],
                                         [GATE_PASSED, GATE_FAILED], GATE_UNKNOWN),
                               np.full(len(loose), GATE_UNKNOWN)]).astype(np.int8)
        score_matrix = np.vstack([scores, np.full((len(loose), scores.shape[1]), np.nan)])

        # each version's representative: its newest restorable deploy (a deploy without a version: itself)
        self._rep_ids = np.array([*figures.representative, *(d.netlify_id if restorable(d) else None
                                                             for d in loose_facts)], dtype=object)
        rep_at = np.concatenate([figures.representative_at, facts.as_datetime64(
            [d.created_at if restorable(d) else None for d in loose_facts])]).astype("datetime64[us]")
        contender = self._rep_ids != None  # noqa: E711  (element-wise)
        self.table = VersionTable(keys=keys, shas=shas, benchmarks=benchmarks, scores=score_matrix, gate=gate,
                                  appeared=appeared, contender=contender)
        self._newest = newest
        warnings: list[str] = []
        self.chosen = chosen_benchmarks(policy, benchmarks, warnings)

        # the deploy rules, over the deploys they can keep
        by_pk = {row.pk: row for row in candidates}
        index_of_pk = {row.pk: self._index_of(row.version_id, row.facts.netlify_id) for row in candidates}
        candidate_facts = [row.facts for row in candidates]
        live_warning(sorted(d.netlify_id for d in candidate_facts if d.is_live), warnings)
        self.warnings = tuple(warnings)
        keeps: Keeps = defaultdict(list)
        keep_live_pinned_building(candidate_facts, keeps)
        keep_rollback_targets(candidate_facts, policy, keeps)
        heads: dict[str, list] = defaultdict(list)
        for pk in head_pks:
            row = by_pk[pk]
            if row.facts.branch:
                heads[row.facts.branch].append(row.facts)
        keep_newest_per_branch(heads, policy, keeps)
        keep_grace(((row.facts, self._scores(index_of_pk[row.pk]), shas[index_of_pk[row.pk]])
                    for row in candidates if index_of_pk[row.pk] is not None), policy, self.chosen, now, keeps)
        self._keeps = dict(keeps)
        # time enters the plan only through the grace period: it holds until the next deploy leaves it
        grace = timedelta(days=policy.grace_days)
        ends = [d.created_at + grace for d in candidate_facts
                if policy.grace_days and not d.expired and d.created_at + grace > now]
        self.valid_until: datetime | None = min(ends) if ends else None

        same_rules = previous is not None and previous.policy == policy and previous.chosen == self.chosen
        if same_rules and same_table(previous.table, self.table):
            self.verdicts = previous.verdicts  # nothing the version rules judge has changed (a pin, a sync)
        elif same_rules and same_table(previous.table, self.table, gate=False):
            self.verdicts = judge_gate_again(previous.verdicts, self.table)  # a gate verdict recorded
        else:
            self.verdicts = judge_versions(self.table, policy, self.chosen)
        merited = self.verdicts.merited & contender
        self._merited = merited
        # the deploy that keeps each version restorable: its representative when kept, else its newest
        # restorable deploy a deploy rule keeps
        kept_id = np.where(merited, self._rep_ids, None)
        kept_at = np.where(merited, rep_at, np.datetime64("NaT", "us"))  # as kept_id: its created_at
        special = [(index_of_pk[row.pk], row.facts) for row in candidates if row.facts.netlify_id in self._keeps]
        self._rule_kept_versions: dict[int, list[str]] = defaultdict(list)  # version -> deploys a rule keeps
        for i, d in special:
            if i is not None:
                self._rule_kept_versions[i].append(d.netlify_id)
        for i, d in sort_newest_first_pairs(special):
            if i is None or kept_id[i] is not None:
                continue
            if d.netlify_id == self._rep_ids[i] or restorable(d):
                kept_id[i], kept_at[i] = d.netlify_id, facts.as_datetime64([d.created_at])[0]
        self._kept_id = kept_id
        self._kept_at = kept_at
        self._count(special, merited, rep_at)

    def _count(self, special, merited, rep_at) -> None:
        """Every deploy's action and tags, counted without deciding the deploys one by one."""
        keep_tags: Counter = Counter()
        prune_tags: Counter = Counter()
        special_restorable = np.zeros(len(self.table), dtype=np.int64)
        special_failed = np.zeros(len(self.table), dtype=np.int64)
        rep_special = np.zeros(len(self.table), dtype=bool)
        kept_rows: list[tuple[Any, str]] = []  # (created_at, Netlify id) of the deploys a rule keeps
        for i, d in special:
            tags = [tag for tag, _ in self._keeps[d.netlify_id]]
            if i is not None and d.netlify_id == self._rep_ids[i]:
                rep_special[i] = True
                if merited[i]:
                    tags += [tag for tag, _ in self.verdicts.merit(i)]
            keep_tags.update(list(dict.fromkeys(tags)))
            if i is not None and not d.expired:
                special_restorable[i] += restorable(d)
                special_failed[i] += d.state in FAILED_STATES
            kept_rows.append((d.created_at, d.netlify_id))
        # representatives kept for their merit alone
        merit_only = merited & ~rep_special
        for tag, count in self._merit_tag_counts(merit_only).items():
            keep_tags[tag] += count
        merit_rows = np.flatnonzero(merit_only)
        rest = self._restorable_open - special_restorable - merit_only.astype(np.int64)
        duplicates = np.where(self._kept_id != None, rest, 0)  # noqa: E711
        failed = int((self._failed_open - special_failed).sum())
        if failed:
            prune_tags[FAILED] = failed
        if duplicates.sum():
            prune_tags[DUPLICATE] = int(duplicates.sum())
        unkept = rest - duplicates
        fault_tags = self.verdicts.fault_tags()
        for tag in set(fault_tags.tolist()):
            count = int(unkept[fault_tags == tag].sum())
            if count:
                prune_tags[tag] += count
        expired = int(self._expired.sum())
        keep = len(kept_rows) + len(merit_rows)
        prune = sum(prune_tags.values())
        total = int(self._deploys.sum())
        if keep + prune + expired != total:  # every deploy is counted once: a broken invariant is a bug here
            raise AssertionError(f"retention counts disagree: keep {keep} + prune {prune} + expired {expired} "
                                 f"!= {total} deploys")
        self._summary = summarise(total, keep, prune, expired, keep_tags, prune_tags)
        # every kept deploy, newest first, then by Netlify id: sorted as arrays (a hundred thousand may be kept)
        ids = [netlify_id for _, netlify_id in kept_rows] + self._rep_ids[merit_rows].tolist()
        created = np.concatenate([facts.as_datetime64([at for at, _ in kept_rows]).astype("datetime64[us]"),
                                  rep_at[merit_rows]]).astype(np.int64)
        order = np.lexsort((np.array(ids, dtype=str), -created)) if ids else np.zeros(0, dtype=np.int64)
        self._kept_order = [ids[i] for i in order.tolist()]
        self._kept_set = frozenset(self._kept_order)

    def _merit_tag_counts(self, which: np.ndarray) -> Counter:
        v = self.verdicts
        counts: Counter = Counter()
        counts[FRONTIER] = int((v.on_frontier & which).sum())
        counts[NEW_BEST] = int((v.new_best.any(axis=1) & which).sum()) if v.new_best.size else 0
        counts[GATE] = int((v.gate_merit & which).sum())
        return counts

    # --- lookups ------------------------------------------------------------------------------------------

    def _index_of(self, version_id: int | None, netlify_id: str) -> int | None:
        if version_id is None:
            return self._loose_index.get(netlify_id)
        where = int(np.searchsorted(self._version_ids, version_id))
        if where < len(self._version_ids) and self._version_ids[where] == version_id:
            return where
        return None

    def _scores(self, i: int | None) -> dict[str, float]:
        return self.table.scores_of(i) if i is not None else {}

    def _decide(self, row: facts.DeployRow, contexts: dict[int, VersionContext]) -> Decision:
        i = self._index_of(row.version_id, row.facts.netlify_id)
        if i is None:  # a deploy added after this plan was made: the next plan decides it
            raise KeyError(f"deploy {row.facts.netlify_id} is newer than this retention plan")
        context = contexts.get(i)
        if context is None:
            kept = (KeptDeploy(self._kept_id[i], facts.as_utc(self._kept_at[i]))
                    if self._kept_id[i] is not None else None)
            context = contexts[i] = VersionContext(self.verdicts, i, self._scores(i), self._rep_ids[i], kept)
        return decide(row.facts, context, self._keeps.get(row.facts.netlify_id, ()), self.policy)

    def _decide_all(self, rows: list[facts.DeployRow]) -> list[Decision]:
        contexts: dict[int, VersionContext] = {}
        return [self._decide(row, contexts) for row in rows]

    # --- the PlanView ------------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        summary = self._summary
        return {**summary, "kept_for": dict(summary["kept_for"]), "pruned_as": dict(summary["pruned_as"])}

    def benchmarks(self) -> list[str]:
        return list(self.table.benchmarks)

    def decision(self, netlify_id: str) -> Decision:
        with unit_of_work(self.engine) as session:
            rows = facts.deploys_by_id(session, self._last_live, netlify_ids=[netlify_id])
        if not rows:
            raise KeyError(f"no deploy {netlify_id!r} in this retention plan")
        return self._decide_all(rows)[0]

    def page(self, action: str, start: int, stop: int) -> list[Decision]:
        start, stop = max(0, start), max(0, stop)
        if stop <= start:
            return []
        if action == "keep":
            ids = self._kept_order[start:stop]
            with unit_of_work(self.engine) as session:
                rows = facts.deploys_by_id(session, self._last_live, netlify_ids=ids)
            order = {netlify_id: k for k, netlify_id in enumerate(ids)}
            return sorted(self._decide_all(rows), key=lambda d: order[d.netlify_id])
        if action == "prune":
            return list(self._prune_from(start, stop - start))
        condition = facts.EXPIRED_CONDITION if action == "expired" else None
        with unit_of_work(self.engine) as session:
            rows = facts.deploy_page(session, self._last_live, condition, start, stop - start)
        return self._decide_all(rows)

    def _prune_from(self, start: int, limit: int | None) -> Iterator[Decision]:
        """Pruned deploys from rank ``start``: every deploy Netlify still has, newest first, less the kept ones
        (a set the size of the kept deploys), read in chunks and decided a chunk at a time."""
        skipped, given = 0, 0
        with unit_of_work(self.engine) as session:
            # the first chunk sized to the page (the kept deploys among the newest are few): a page of a
            # hundred reads hundreds of keys, not thousands
            first = None if limit is None else start + limit + min(len(self._kept_set), 4 * limit)
            for chunk in facts.open_deploy_keys(session, first=first):
                wanted = []
                for netlify_id, _ in chunk:
                    if netlify_id in self._kept_set:
                        continue
                    if skipped < start:
                        skipped += 1
                        continue
                    wanted.append(netlify_id)
                    if limit is not None and given + len(wanted) >= limit:
                        break
                if wanted:
                    rows = facts.deploys_by_id(session, self._last_live, netlify_ids=wanted)
                    order = {netlify_id: k for k, netlify_id in enumerate(wanted)}
                    rows.sort(key=lambda row: order[row.facts.netlify_id])
                    for decision in self._decide_all(rows):
                        yield decision
                        given += 1
                if limit is not None and given >= limit:
                    return

    def iter_decisions(self, action: str = "all") -> Iterator[Decision]:
        if action == "prune":
            yield from self._prune_from(0, None)
            return
        start = 0
        while True:
            page = self.page(action, start, start + PAGE * 10)
            yield from page
            if len(page) < PAGE * 10:
                return
            start += len(page)

    @property
    def decisions(self) -> tuple[Decision, ...]:
        """Every decision (for tests and small registries; pages and commands page or stream)."""
        return tuple(self.iter_decisions("all"))

    # --- versions, for the chart --------------------------------------------------------------------------

    def version_rows(self, x: str, y: str) -> list[tuple[str, str | None, float, float, bool, int]]:
        """Versions still on Netlify with a score on ``x`` and on ``y``, newest deploy first: (sha, branch, x, y,
        kept, index); :meth:`version_reasons` words one of them."""
        order, xs, ys, kept = self.version_columns(x, y)
        table = self.table
        return [(table.shas[i], self._branches[i], x_, y_, bool(k), i)
                for i, x_, y_, k in zip(order.tolist(), xs.tolist(), ys.tolist(), kept.tolist())]

    def version_columns(self, x: str, y: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`version_rows` as arrays: (the versions' indexes, newest deploy first; their ``x`` scores, ``y``
        scores, and whether a deploy of theirs is kept)."""
        table = self.table
        if x not in table.benchmarks or y not in table.benchmarks:
            return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
        cx, cy = table.benchmarks.index(x), table.benchmarks.index(y)
        open_ = (self._deploys - self._expired) > 0
        has_sha = np.array([sha is not None for sha in table.shas], dtype=bool)
        shown = np.flatnonzero(open_ & has_sha & ~np.isnan(table.scores[:, cx]) & ~np.isnan(table.scores[:, cy]))
        kept = self._merited | self._kept_by_rule
        order = shown[np.argsort(-self._newest[shown], kind="stable")]
        return order, table.scores[order, cx], table.scores[order, cy], kept[order]

    def branch_of(self, i: int) -> str | None:
        return self._branches[i]

    @property
    def _kept_by_rule(self) -> np.ndarray:
        kept = np.zeros(len(self.table), dtype=bool)
        for i in self._rule_kept_versions:
            kept[i] = True
        return kept

    def version_reasons(self, i: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(tags, reasons) of version ``i``: of its kept deploys, else the faults no rule forgave."""
        kept: list[tuple[str, str]] = []
        for netlify_id in self._rule_kept_versions.get(i, ()):
            kept += self._keeps[netlify_id]
        if self._merited[i]:
            kept += self.verdicts.merit(i)
        if kept:
            return tuple(dict.fromkeys(t for t, _ in kept)), tuple(dict.fromkeys(r for _, r in kept))
        return (self.verdicts.fault_tag(i),), tuple(self.verdicts.faults(i))
