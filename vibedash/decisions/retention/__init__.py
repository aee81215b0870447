"""Retention by meaning: which deploys to keep, which to prune, and why (the pure plan).

Netlify deletes deploys by age, which can delete the very version one needs to roll back to. This module
keeps what matters and says why: every deploy gets a decision with at least one reason a person can read.

How a plan is made
------------------
Deploys are grouped by version (commit sha). Two kinds of rules keep things:

* Deploy rules keep *that* deploy: the live deploy (always), pinned deploys (always), the last N deploys
  that were live before the current one (rollback targets), deploys younger than the grace period, the
  newest deploy of each of the N newest versions on every branch, and deploys still building.
* Version rules judge a version's merit: it set a new best on a benchmark when it appeared, it is on the
  Pareto frontier of the chosen benchmarks, or it passed the gate. A version kept for its merit keeps one
  deploy: its newest restorable one (state ready, old or current, not expired). Its other restorable
  deploys are pruned as "older duplicate of <sha>" unless a deploy rule keeps them.

Everything else is pruned, with the reasons every rule gave. Choices worth knowing:

* Failed builds (state error, rejected, ...) have nothing to roll back to: they are pruned unless pinned,
  live or in the grace period.
* Expired deploys (already gone from Netlify) get the action ``expired``: they are listed, so the plan
  covers every deploy, but they are neither kept nor pruned.
* Deploys in a state retention does not know (a build in progress, a state Netlify adds later) are kept.
* Frontier: version A dominates B when A is at least as good as B on every chosen benchmark and better on
  one. A missing score counts as worse than any score: a version is judged on what it was measured on (the
  grace period gives it time to be measured), and one measured on fewer benchmarks never pushes out one
  measured on more. Versions equal on every chosen benchmark do not dominate each other: all of them stay
  on the frontier (the reason names the ones tied). Versions with no score on any chosen benchmark take no
  part. Only versions with a restorable deploy compete: a better version whose deploys are gone cannot
  push out the best one still there.
* New bests are history: versions are taken in order of their first deploy, and a version sets a new best
  on a benchmark when its score is strictly greater than that of every version that appeared earlier,
  whether or not those are still deployed. The first version scored on a benchmark sets its first best.
  Versions that appeared at the same instant are each compared with the earlier ones only.
* A version without scores (or missing some chosen benchmark) is kept by the grace period and the plan
  says so ("no scores yet; kept until ... (grace period)"); after the grace period it is judged like any
  other.
* Rollback targets are the deploys with a ``last_live_at``, most recent first, counting only restorable
  ones, since an expired or failed deploy is no rollback target. Deploys tied at the last place are all
  kept.

All datetimes must be timezone-aware (the registry returns UTC). Decisions are ordered newest deploy first,
then by Netlify id, whatever the input order.

Where the parts are: the plan of deploys held in memory (:func:`plan_retention`) in
:mod:`~vibedash.decisions.retention.plan`, the deploy rules and one deploy's decision in
:mod:`~vibedash.decisions.retention.deploys`, the version rules (vectorised, one row per version) in
:mod:`~vibedash.decisions.retention.versions`, the policy in :mod:`~vibedash.decisions.retention.policy`, the
vocabulary in :mod:`~vibedash.decisions.retention.terms`; every public name is offered here. A registry too big
to hold every deploy in memory is planned by :mod:`vibedash.registry.retention.plan` with the same rules and the
same :func:`decide`.
"""

# ruff: noqa: F401  (this package offers the names of its modules)
from vibedash.decisions.retention.deploys import (
    BriefDecision,
    Decision,
    Keeps,
    KeptDeploy,
    VersionContext,
    decide,
    keep_grace,
    keep_live_pinned_building,
    keep_newest_per_branch,
    keep_rollback_targets,
    kept_restorable,
    live_warning,
    not_protected,
    restorable,
    rollback_targets,
    sort_newest_first,
)
from vibedash.decisions.retention.plan import (
    PlanView,
    RetentionPlan,
    check_inputs,
    grace_ends,
    plan_retention,
    summarise,
    version_key,
)
from vibedash.decisions.retention.policy import (
    DEFAULT_RETENTION_POLICY,
    RetentionPolicy,
    RetentionPolicyError,
    load_retention_policy,
    parse_retention_policy,
)
from vibedash.decisions.retention.terms import (
    ACTIONS,
    BRANCH,
    BUILDING,
    DOMINATED,
    DUPLICATE,
    EXPIRED,
    FAILED,
    FAILED_STATES,
    FRONTIER,
    GATE,
    GRACE,
    KEEP_TAG_ORDER,
    LIVE,
    NEW_BEST,
    NO_RULE,
    PINNED,
    PRUNE_TAG_ORDER,
    RESTORABLE_STATES,
    ROLLBACK,
    UNSCORED,
    Action,
    date,
    days,
    ordinal,
)
from vibedash.decisions.retention.versions import (
    GATE_FAILED,
    GATE_PASSED,
    GATE_UNKNOWN,
    Verdicts,
    VersionTable,
    chosen_benchmarks,
    judge_gate_again,
    judge_versions,
    skyline,
)
