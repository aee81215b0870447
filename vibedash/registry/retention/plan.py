"""The retention plan of a whole registry, without holding its deploys in memory.

:func:`vibedash.decisions.retention.plan_retention` decides every deploy it is given. A registry of a million
deploys is planned here with the same rules and the same :func:`~vibedash.decisions.retention.decide`, from
narrow reads (:mod:`vibedash.registry.retention.facts`):

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
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Engine

from vibedash.decisions.retention import (
    DUPLICATE,
    FAILED,
    BriefDecision,
    Decision,
    Keeps,
    KeptDeploy,
    PlanView,
    RetentionPolicy,
    VersionContext,
    decide,
    keep_grace,
    keep_live_pinned_building,
    keep_newest_per_branch,
    keep_rollback_targets,
    live_warning,
    restorable,
    summarise,
)
from vibedash.decisions.retention.terms import FAILED_STATES, FRONTIER, GATE, NEW_BEST
from vibedash.registry.db import unit_of_work
from vibedash.registry.retention import facts
from vibedash.registry.retention.candidates import read_candidates
from vibedash.registry.retention.layout import (
    KeptOrder,
    newest_per_branch,
    sort_newest_first_pairs,
)
from vibedash.registry.retention.snapshot import read_snapshot
from vibedash.registry.retention.versions import PlanVersions

PAGE = 500
T = TypeVar("T")


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
        self._snapshot, changed = read_snapshot(session, previous._snapshot if previous is not None else None)
        self.patched = changed is not None
        self._last_live = facts.last_live_times(session)
        loose = facts.deploys_without_version(session, self._last_live)  # each a version of its own
        versions = self._versions = PlanVersions.build(self._snapshot, [row.facts for row in loose], policy,
                                                       previous._versions if previous is not None else None)
        self.table, self.verdicts, self.chosen = versions.table, versions.verdicts, versions.chosen
        head_pks = newest_per_branch(facts.branch_heads(session, policy.keep_newest_per_branch), loose,
                                     policy.keep_newest_per_branch)
        grace_start = now - timedelta(days=policy.grace_days) if policy.grace_days else None
        self._candidates = read_candidates(
            session, self._last_live, grace_start, head_pks, loose,
            previous._candidates if previous is not None and previous.now <= now else None, changed)
        self.rules_patched = self._candidates.patched  # the deploy rules' candidates patched, not read whole
        self._keep_by_deploy_rules(self._candidates.rows, head_pks)
        self._count()

    def _keep_by_deploy_rules(self, candidates: Sequence[facts.DeployRow], head_pks: Sequence[int]) -> None:
        policy, now, versions = self.policy, self.now, self._versions
        index_of_pk = dict(zip((row.pk for row in candidates), versions.indexes_of(candidates)))
        candidate_facts = [row.facts for row in candidates]
        warnings = list(versions.chosen_warnings)
        live_warning(sorted(d.netlify_id for d in candidate_facts if d.is_live), warnings)
        self.warnings = tuple(warnings)
        keeps: Keeps = defaultdict(list)
        keep_live_pinned_building(candidate_facts, keeps)
        keep_rollback_targets(candidate_facts, policy, keeps)
        by_pk = {row.pk: row for row in candidates}
        heads: dict[str, list] = defaultdict(list)
        for pk in head_pks:
            row = by_pk[pk]
            if row.facts.branch:
                heads[row.facts.branch].append(row.facts)
        keep_newest_per_branch(heads, policy, keeps)
        grace = timedelta(days=policy.grace_days)
        young = [row for row in candidates if index_of_pk[row.pk] is not None and not row.facts.expired
                 and now - row.facts.created_at < grace]
        keep_grace(((row.facts, versions.scores(index_of_pk[row.pk]), versions.shas[index_of_pk[row.pk]])
                    for row in young), policy, self.chosen, now, keeps)
        self._keeps = dict(keeps)
        # time enters the plan only through the grace period: it holds until the next deploy leaves it
        ends = [d.created_at + grace for d in candidate_facts
                if policy.grace_days and not d.expired and d.created_at + grace > now]
        self.valid_until: datetime | None = min(ends) if ends else None
        # the deploys a rule keeps, with their versions' indexes
        self._special = [(index_of_pk[row.pk], row.facts) for row in candidates if row.facts.netlify_id in self._keeps]
        self._rule_kept_versions: dict[int, list[str]] = defaultdict(list)  # version -> deploys a rule keeps
        for i, d in self._special:
            if i is not None:
                self._rule_kept_versions[i].append(d.netlify_id)
        # the deploy that keeps each version restorable: its representative when kept, else its newest
        # restorable deploy a deploy rule keeps (only versions without merit differ from the representative)
        self._restorable_kept: dict[int, KeptDeploy] = {}
        for i, d in sort_newest_first_pairs(self._special):
            if i is None or versions.merited[i] or i in self._restorable_kept:
                continue
            if d.netlify_id == versions.rep_ids[i] or restorable(d):
                self._restorable_kept[i] = KeptDeploy(d.netlify_id, facts.as_utc(d.created_at))

    def _count(self) -> None:
        """Every deploy's action and tags, counted without deciding the deploys one by one: the per-version
        arrays are the versions' (shared with the plans before), the deploy rules' few keeps adjust them."""
        versions, verdicts = self._versions, self.verdicts
        keep_tags: Counter = Counter()
        prune_tags: Counter = Counter()
        base = versions.merit_counts
        special_restorable: Counter = Counter()  # version -> its restorable deploys a deploy rule keeps
        special_failed = 0
        rep_special: set[int] = set()  # versions whose representative a deploy rule keeps
        extra: list[tuple[int, str]] = []  # (-created_at in microseconds, Netlify id) of each deploy a rule keeps
        created = facts.as_datetime64([d.created_at for _, d in self._special]).astype("datetime64[us]")
        for (i, d), at in zip(self._special, created.astype(np.int64).tolist()):
            tags = [tag for tag, _ in self._keeps[d.netlify_id]]
            if i is not None and d.netlify_id == versions.rep_ids[i]:
                rep_special.add(i)
                if versions.merited[i]:
                    tags += [tag for tag, _ in verdicts.merit(i)]
            keep_tags.update(list(dict.fromkeys(tags)))
            if i is not None and not d.expired:
                special_restorable[i] += restorable(d)
                special_failed += d.state in FAILED_STATES
            extra.append((-at, d.netlify_id))
        # representatives kept for their merit alone: every merited one (the versions' counts) but those a
        # deploy rule keeps too
        keep_tags[FRONTIER] += base.frontier
        keep_tags[NEW_BEST] += base.new_best
        keep_tags[GATE] += base.gate
        for i in rep_special:
            if versions.merited[i]:
                keep_tags[FRONTIER] -= int(verdicts.on_frontier[i])
                keep_tags[NEW_BEST] -= int(versions.new_best_any[i])
                keep_tags[GATE] -= int(verdicts.gate_merit[i])
        # the restorable deploys nothing keeps: duplicates of the one that keeps their version, else pruned for
        # their version's faults; the versions' counts, corrected where a deploy rule keeps something
        duplicates = base.duplicates
        unkept = base.unkept.copy()
        names, codes = versions.fault_codes
        for i in set(special_restorable) | rep_special | set(self._restorable_kept):
            merit_only = bool(versions.merited[i]) and i not in rep_special
            rest = int(versions.restorable_open[i]) - special_restorable[i] - merit_only
            has_kept = bool(versions.merited[i]) or i in self._restorable_kept
            duplicates += (rest if has_kept else 0) - int(base.rest[i] if versions.merited[i] else 0)
            unkept[codes[i]] += (0 if has_kept else rest) - int(0 if versions.merited[i] else base.rest[i])
        total, expired, failed_open = versions.totals
        if failed_open - special_failed:
            prune_tags[FAILED] = failed_open - special_failed
        if duplicates:
            prune_tags[DUPLICATE] = duplicates
        for tag, count in zip(names, unkept.tolist()):
            if count:
                prune_tags[tag] += int(count)
        self._kept = KeptOrder(*versions.merit_kept, extra)
        keep = len(self._kept)
        prune = sum(prune_tags.values())
        if keep + prune + expired != total:  # every deploy is counted once: a broken invariant is a bug here
            raise AssertionError(f"retention counts disagree: keep {keep} + prune {prune} + expired {expired} "
                                 f"!= {total} deploys")
        self._summary = summarise(total, keep, prune, expired, keep_tags, prune_tags)

    # --- lookups ------------------------------------------------------------------------------------------

    def _kept_deploy(self, i: int) -> KeptDeploy | None:
        """The deploy that keeps version ``i`` restorable (the others of its restorable deploys duplicate it)."""
        versions = self._versions
        if versions.merited[i]:
            return KeptDeploy(versions.rep_ids[i], facts.as_utc(versions.rep_at[i]))
        return self._restorable_kept.get(i)

    def _decide(self, row: facts.DeployRow, contexts: dict[int, VersionContext]) -> Decision:
        versions = self._versions
        i = versions.index_of(row.version_id, row.facts.netlify_id)
        if i is None:  # a deploy added after this plan was made: the next plan decides it
            raise KeyError(f"deploy {row.facts.netlify_id} is newer than this retention plan")
        context = contexts.get(i)
        if context is None:
            context = contexts[i] = VersionContext(self.verdicts, i, versions.scores(i), versions.rep_ids[i],
                                                   self._kept_deploy(i))
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
            ids = self._kept.ids(start, stop)
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
        """Pruned deploys from rank ``start`` (at most ``limit``), decided a chunk at a time."""
        with unit_of_work(self.engine) as session:
            for chunk in self._pruned(facts.open_deploy_keys, session, start, limit):
                wanted = [netlify_id for netlify_id, _ in chunk]
                rows = facts.deploys_by_id(session, self._last_live, netlify_ids=wanted)
                order = {netlify_id: k for k, netlify_id in enumerate(wanted)}
                rows.sort(key=lambda row: order[row.facts.netlify_id])
                yield from self._decide_all(rows)

    def _pruned(self, reader: Callable[..., Iterator[list[tuple]]], session, start: int,
                limit: int | None) -> Iterator[list[tuple]]:
        """The rows of the pruned deploys from rank ``start`` (at most ``limit``), a chunk at a time: every
        deploy Netlify still has, newest first (``reader``'s rows, the Netlify id first), less the kept ones (a
        set the size of the kept deploys)."""
        skipped, given = 0, 0
        # the first chunk sized to the page (the kept deploys among the newest are few): a page of a hundred
        # reads a few hundred keys, not thousands; the chunks after it grow fourfold each
        first = None if limit is None else start + limit + min(len(self._kept), max(limit // 4, 16))
        for chunk in reader(session, first=first):
            wanted = []
            for row in chunk:
                if row[0] in self._kept:
                    continue
                if skipped < start:
                    skipped += 1
                    continue
                wanted.append(row)
                if limit is not None and given + len(wanted) >= limit:
                    break
            if wanted:
                yield wanted
                given += len(wanted)
            if limit is not None and given >= limit:
                return

    def brief_page(self, action: str, start: int, stop: int) -> list[BriefDecision]:
        """:meth:`page` of "keep" or "prune" without the reasons: a narrow read of what a list of choices shows
        (the pin selector lists hundreds)."""
        start, stop = max(0, start), max(0, stop)
        if stop <= start or action not in ("keep", "prune"):
            return super().brief_page(action, start, stop)
        with unit_of_work(self.engine) as session:
            if action == "keep":
                rows = facts.deploy_labels(session, self._kept.ids(start, stop))
            else:
                rows = [row for chunk in self._pruned(facts.open_deploy_labels, session, start, stop - start)
                        for row in chunk]
        return [BriefDecision(netlify_id, sha, branch, action) for netlify_id, sha, branch in rows]

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
        return [(table.shas[i], self._versions.branches[i], x_, y_, bool(k), i)
                for i, x_, y_, k in zip(order.tolist(), xs.tolist(), ys.tolist(), kept.tolist())]

    def version_columns(self, x: str, y: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`version_rows` as arrays: (the versions' indexes, newest deploy first; their ``x`` scores, ``y``
        scores, and whether a deploy of theirs is kept)."""
        table = self.table
        if x not in table.benchmarks or y not in table.benchmarks:
            return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
        order, xs, ys = self._versions.chart_columns(x, y)
        kept = self._versions.merited.copy()
        kept[list(self._rule_kept_versions)] = True
        return order, xs, ys, kept[order]

    @property
    def rule_kept_versions(self) -> frozenset[int]:
        """The versions a deploy of which a deploy rule keeps (their standing may differ plan to plan)."""
        return frozenset(self._rule_kept_versions)

    def per_versions(self, key: tuple, compute: Callable[[], T]) -> T:
        """``compute()``, once for every plan of the same versions (they share their per-version arrays)."""
        return self._versions.derived(key, compute)

    def branch_of(self, i: int) -> str | None:
        return self._versions.branches[i]

    def version_reasons(self, i: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(tags, reasons) of version ``i``: of its kept deploys, else the faults no rule forgave."""
        kept: list[tuple[str, str]] = []
        for netlify_id in self._rule_kept_versions.get(i, ()):
            kept += self._keeps[netlify_id]
        if self._versions.merited[i]:
            kept += self.verdicts.merit(i)
        if kept:
            return tuple(dict.fromkeys(t for t, _ in kept)), tuple(dict.fromkeys(r for _, r in kept))
        return (self.verdicts.fault_tag(i),), tuple(self.verdicts.faults(i))
