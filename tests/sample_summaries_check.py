"""The per-problem sample summaries and answer histograms, recomputed in Python from the raw samples: what a
test compares the stored ones with after a write (real SQLite or PostgreSQL)."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from sqlalchemy import Engine, select

from vibedash.registry.db import unit_of_work
from vibedash.registry.models import SampleAnswerCount, SampleResult, SampleSummary


def recomputed(session) -> tuple[dict, Counter]:
    sums: dict[tuple[int, str], dict[str, float | int | None]] = {}
    answers: Counter = Counter()
    columns = (SampleResult.result_id, SampleResult.problem_id, SampleResult.answer, SampleResult.correct,
               SampleResult.output_tokens, SampleResult.thinking_tokens, SampleResult.latency_s,
               SampleResult.finish_reason)
    for result_id, problem, answer, correct, tokens, thinking, latency, finish in session.execute(
            select(*columns).where(SampleResult.result_id.is_not(None))):
        row = sums.setdefault((result_id, problem), defaultdict(int))
        row["samples"] += 1
        row["graded"] += correct is not None
        row["correct"] += bool(correct)
        row["answered"] += answer is not None
        row["cut_by_cap"] += finish == "length"
        for name, value in (("output_tokens", tokens), ("thinking_tokens", thinking), ("latency_s", latency)):
            if value is not None:
                row[name] += value
                row[{"output_tokens": "token_samples", "thinking_tokens": "thinking_samples",
                     "latency_s": "latency_samples"}[name]] += 1
        if answer is not None:
            answers[(result_id, problem, answer, "votes")] += 1
            answers[(result_id, problem, answer, "correct_votes")] += bool(correct)
    return sums, answers


def stored(session) -> tuple[dict, Counter]:
    sums = {}
    for summary in session.scalars(select(SampleSummary)):
        sums[(summary.result_id, summary.problem_id)] = {
            name: getattr(summary, name) for name in (
                "samples", "graded", "correct", "answered", "cut_by_cap", "output_tokens", "token_samples",
                "thinking_tokens", "thinking_samples", "latency_s", "latency_samples")}
    answers: Counter = Counter()
    for row in session.scalars(select(SampleAnswerCount)):
        key = (row.result_id, row.problem_id, row.answer)
        assert (*key, "votes") not in answers, f"answer {key} counted twice"
        answers[(*key, "votes")] = row.votes
        answers[(*key, "correct_votes")] = row.correct_votes
    return sums, answers


def assert_summaries_match(engine: Engine) -> int:
    """Every stored summary and histogram row equals the recomputation (and none is missing or extra).
    Returns the number of (result, problem) summaries, so a test can also check it is not trivially zero."""
    with unit_of_work(engine) as session:
        want_sums, want_answers = recomputed(session)
        got_sums, got_answers = stored(session)
    assert set(got_sums) == set(want_sums)
    for key, want in want_sums.items():
        got = got_sums[key]
        for name in ("samples", "graded", "correct", "answered", "cut_by_cap", "token_samples", "thinking_samples",
                     "latency_samples"):
            assert got[name] == want.get(name, 0), (key, name)
        for name, count in (("output_tokens", "token_samples"), ("thinking_tokens", "thinking_samples"),
                            ("latency_s", "latency_samples")):
            if want.get(count, 0):
                assert got[name] == pytest.approx(want[name]), (key, name)
            else:
                assert got[name] is None, (key, name)
    assert {k: v for k, v in got_answers.items() if v or k[-1] == "votes"} == \
        {k: v for k, v in want_answers.items() if v or k[-1] == "votes"}
    return len(want_sums)
