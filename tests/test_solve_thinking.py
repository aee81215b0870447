"""Thinking vs answer and the thinking budget: the tracker's arithmetic, budget forcing on the tiny local model
(k samples forced each at its own moment) and on a loopback OpenAI-compatible server (one that honours
``thinking_token_budget``, and one that ignores it and is continued through /completions), the cache key,
and the CLI flag."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: tests never download

import argparse
import threading

import pytest
from test_solve_openai import FakeOpenAIServer, add_version, registry  # noqa: F401  (fixture)
from tiny_model import save_tiny_model

from vibedash.solve import command
from vibedash.solve.engine import SolveEngine, SolveRequest
from vibedash.solve.generation import GenerationJob, LiveFigures, TextDelta
from vibedash.solve.openai_compat import OpenAICompatBackend, request_body
from vibedash.solve.prompts import (
    BUDGET_ANSWER_CUE,
    DEFAULT_ANSWER_MAX_TOKENS,
    SamplingSettings,
    SettingsError,
    chat_messages,
)
from vibedash.solve.runlog import cache_key
from vibedash.solve.thinking import ThinkingTracker

QUESTION = tuple(chat_messages("What is 2+2? Let's think step by step."))


def feed(tracker, pieces, start=0.0):
    for offset, piece in enumerate(pieces):
        text, tokens = piece if isinstance(piece, tuple) else (piece, 1)
        tracker.observe(text, start + offset, tokens)
    return tracker


# -- the tracker -------------------------------------------------------------------------------------------

def test_tracker_splits_thinking_from_answer_at_the_marker():
    tracker = feed(ThinkingTracker(), ["Let", " me", " think", "</", "think", ">", "\n\n", "4"])
    figures = tracker.finish(ended_on_its_own=True)
    assert (figures.thinking_tokens, figures.answer_tokens) == (3, 5)  # the marker's tokens belong to the answer
    assert figures.first_token_at == 0 and figures.first_answer_at == 6  # the first token after the marker
    # The marker inside a token with thought before it: that token is thinking; answer text in it starts the answer.
    tracker = feed(ThinkingTracker(), ["a", "b.</think>The", " end"])
    figures = tracker.finish(ended_on_its_own=True)
    assert (figures.thinking_tokens, figures.answer_tokens, figures.first_answer_at) == (2, 1, 1)


def test_tracker_without_a_marker_depends_on_how_the_sample_ended():
    answered = feed(ThinkingTracker(), ["The", " answer", " is", " 4"]).finish(ended_on_its_own=True)
    assert (answered.thinking_tokens, answered.answer_tokens, answered.first_answer_at) == (0, 4, 0)
    cut = feed(ThinkingTracker(), ["hmm"] * 5)
    cut.cut = True
    figures = cut.finish(ended_on_its_own=False)
    assert (figures.thinking_tokens, figures.answer_tokens, figures.first_answer_at, figures.cut) == (5, 0, None, True)


def test_the_models_own_opening_tag_is_neither_thinking_nor_answer():
    tracker = feed(ThinkingTracker(), ["\n", "<", "think", ">", "x", "y", "</think>", "4"])
    figures = tracker.finish(ended_on_its_own=True)
    assert (figures.tokens, figures.thinking_tokens, figures.answer_tokens) == (8, 3, 2)  # "\n" thinks, the tag not
    assert feed(ThinkingTracker(), ["<think>", "a", "b"]).finish(ended_on_its_own=True).thinking_tokens == 2


def test_tracker_counts_tags_added_by_a_backend_as_no_tokens():
    tracker = feed(ThinkingTracker(), [("<think>", 0), "x", "y", ("</think>", 0), "4"])
    figures = tracker.finish(ended_on_its_own=True)
    assert (figures.tokens, figures.thinking_tokens, figures.answer_tokens, figures.first_answer_at) == (3, 2, 1, 4)


def test_budget_settings_are_checked_and_default_to_none():
    assert SamplingSettings().thinking_budget is None and SamplingSettings().answer_cap is None
    assert SamplingSettings(thinking_budget=100).answer_cap == DEFAULT_ANSWER_MAX_TOKENS
    assert SamplingSettings(thinking_budget=100, answer_max_tokens=50, max_new_tokens=4096).generation_cap == 214
    assert SamplingSettings(thinking_budget=100, max_new_tokens=120).generation_cap == 120  # the total cap rules
    with pytest.raises(SettingsError, match="thinking budget -1"):
        SamplingSettings(thinking_budget=-1)
    with pytest.raises(SettingsError, match="answer cap 0"):
        SamplingSettings(answer_max_tokens=0)


def test_the_budget_is_part_of_the_cache_key_and_old_keys_stay():
    base = dict(version_sha="ab" * 20, model_ref="m", prompt="p", backend="transformers")
    plain = cache_key(settings=SamplingSettings(), **base)
    budgeted = cache_key(settings=SamplingSettings(thinking_budget=512), **base)
    other_budget = cache_key(settings=SamplingSettings(thinking_budget=1024), **base)
    capped = cache_key(settings=SamplingSettings(thinking_budget=512, answer_max_tokens=64), **base)
    assert len({plain, budgeted, other_budget, capped}) == 4
    # Without a budget the key is what it was before budgets existed: logged runs keep answering repeats.
    import hashlib
    import json
    legacy = {k: v for k, v in SamplingSettings().as_dict().items() if k not in ("thinking_budget",
                                                                                  "answer_max_tokens")}
    payload = {"version": base["version_sha"], "model_ref": "m", "prompt": "p", "settings": legacy, "mode": "single",
               "backend": "transformers"}
    expected = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":"),
                                         ensure_ascii=False).encode()).hexdigest()
    assert plain == expected


# -- local backend -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    # No end-of-sequence token: nothing but the caps ends a sample, so every count below is exact.
    return save_tiny_model(tmp_path_factory.mktemp("thinking") / "model", seed=1, with_eos=False)


@pytest.fixture(scope="module")
def backend():
    from vibedash.solve.local import LocalBackend

    backend = LocalBackend("cpu", emit_interval_s=0)
    yield backend
    backend.close()


def generate(backend, model_dir, **settings):
    events = []
    job = GenerationJob(QUESTION, SamplingSettings(**settings))
    return backend.generate(str(model_dir), job, events.append, threading.Event()), events


def test_local_budget_forcing_closes_each_sample_at_the_budget(backend, model_dir):
    from vibedash.solve.local import forced_token_ids

    outcome, events = generate(backend, model_dir, max_new_tokens=400, samples=3, thinking_budget=12,
                               answer_max_tokens=5)
    forced = len(forced_token_ids(backend.models.get(str(model_dir)).tokenizer))
    assert outcome.thinking_tokens == [12, 12, 12]  # never more than the budget
    assert outcome.answer_tokens == [forced + 5] * 3  # marker and cue, then the answer cap
    assert outcome.samples_forced == 3 and outcome.samples_cut == 3  # the answer cap ended each one
    for text in outcome.texts:
        assert text.count("</think>") == 1 and BUDGET_ANSWER_CUE in text
    assert outcome.time_to_first_token_s <= outcome.time_to_first_answer_s <= outcome.total_s
    assert outcome.load_s is not None and outcome.load_s <= outcome.time_to_first_token_s
    figures = [e for e in events if isinstance(e, LiveFigures)]
    assert figures and figures[-1].thinking_tokens == 36 and figures[-1].answering
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta) and e.sample == 1)
    assert streamed == outcome.texts[1]


def test_a_zero_budget_answers_at_once_and_no_budget_thinks_to_the_cap(backend, model_dir):
    outcome, _ = generate(backend, model_dir, max_new_tokens=200, thinking_budget=0, answer_max_tokens=3,
                          temperature=0)
    assert outcome.thinking_tokens == [0] and outcome.texts[0].startswith("</think>")
    unbudgeted, _ = generate(backend, model_dir, max_new_tokens=20, temperature=0)
    assert unbudgeted.thinking_tokens == [20] and unbudgeted.answer_tokens == [0]
    assert unbudgeted.samples_cut == 1 and unbudgeted.samples_forced == 0
    assert unbudgeted.time_to_first_answer_s is None
    assert unbudgeted.decode_tokens_per_second and unbudgeted.decode_tokens_per_second > 0


def test_a_budgeted_run_is_graded_logged_and_cached_apart(registry, model_dir):  # noqa: F811
    version = add_version(registry, "9a" * 20, str(model_dir))
    solver = SolveEngine(registry, device="cpu")
    try:
        settings = SamplingSettings(max_new_tokens=300, thinking_budget=8, answer_max_tokens=4)
        result = solver.solve(SolveRequest(version=version, question="2+2?", expected="4", settings=settings))
        again = solver.solve(SolveRequest(version=version, question="2+2?", expected="4", settings=settings))
        other = solver.solve(SolveRequest(version=version, question="2+2?", expected="4",
                                          settings=settings.with_(thinking_budget=9)))
    finally:
        solver.close()
    assert result.thinking_tokens == 8 and result.samples_forced == 1 and result.samples_cut == 1
    assert result.correct is False and "boxed" in result.grade_detail  # graded on the answer after </think>
    assert again.cached and (again.thinking_tokens, again.samples_forced) == (8, 1)
    assert again.settings.thinking_budget == 8 and again.time_to_first_answer_s == result.time_to_first_answer_s
    assert not other.cached and other.thinking_tokens == 9


# -- OpenAI-compatible server ------------------------------------------------------------------------------

THOUGHTS = [f"t{i} " for i in range(30)]


def openai_job(**settings):
    return GenerationJob(QUESTION, SamplingSettings(**settings))


@pytest.mark.parametrize("reasoning_field", [True, False], ids=["reasoning_content", "inline-think"])
def test_a_server_that_honours_the_budget_is_left_to_it(reasoning_field):
    with FakeOpenAIServer([["\\boxed{4}"]], thinking=THOUGHTS, reasoning_field=reasoning_field,
                          honour_budget=True) as server:
        outcome = OpenAICompatBackend().generate(f"openai:vibe@{server.url}", openai_job(thinking_budget=10),
                                                 lambda e: None, threading.Event())
    assert server.requests[0][1]["thinking_token_budget"] == 10 and len(server.requests) == 1
    assert outcome.thinking_tokens == [10] and outcome.samples_forced == 0
    assert outcome.texts[0].endswith("</think>\\boxed{4}")
    assert outcome.time_to_first_answer_s is not None and outcome.time_to_first_answer_s >= \
        outcome.time_to_first_token_s


@pytest.mark.parametrize("reasoning_field", [True, False], ids=["reasoning_content", "inline-think"])
def test_a_server_that_ignores_the_budget_is_cut_and_continued(reasoning_field):
    with FakeOpenAIServer([["never sent"]], thinking=THOUGHTS, reasoning_field=reasoning_field,
                          continuation=["The", " answer", " is", " \\boxed{4}", " indeed"]) as server:
        events = []
        outcome = OpenAICompatBackend(budget_field=None).generate(
            f"openai:vibe@{server.url}", openai_job(samples=2, thinking_budget=10, answer_max_tokens=4),
            events.append, threading.Event())
    chat, *continuations = [body for _, body in server.requests]
    assert "thinking_token_budget" not in chat and len(continuations) == 2
    for body in continuations:
        assert body["prompt"].startswith("<|im_start|>user\nWhat is 2+2?")
        assert body["prompt"].endswith("t9 </think>" + BUDGET_ANSWER_CUE) and "t10" not in body["prompt"]
        assert body["max_tokens"] == 4
    assert outcome.thinking_tokens == [10, 10] and outcome.answer_tokens == [4, 4]
    assert outcome.samples_forced == 2 and outcome.samples_cut == 2  # the continuation hit the answer cap
    assert all(text.endswith(BUDGET_ANSWER_CUE + "The answer is \\boxed{4}") for text in outcome.texts)
    assert "".join(e.text for e in events if isinstance(e, TextDelta) and e.sample == 1) == outcome.texts[1]


def test_through_the_engine_a_forced_answer_is_still_graded(registry):  # noqa: F811
    with FakeOpenAIServer([["x"]], thinking=THOUGHTS, continuation=["\\boxed{4}"]) as server:
        version = add_version(registry, "7b" * 20, f"openai:vibe@{server.url}")
        solver = SolveEngine(registry)
        try:
            result = solver.solve(SolveRequest(version=version, question="2+2?", expected="4",
                                               settings=SamplingSettings(thinking_budget=5)))
        finally:
            solver.close()
    assert (result.answer, result.correct, result.thinking_tokens, result.samples_forced) == ("4", True, 5, 1)
    assert result.time_to_first_answer_s is not None and result.total_s >= result.time_to_first_answer_s


def test_request_body_carries_the_budget_and_the_lowered_cap():
    from vibedash.solve.openai_compat import parse_ref

    endpoint = parse_ref("openai:vibe@http://h/v1", None)
    body = request_body(endpoint, openai_job(thinking_budget=100, answer_max_tokens=50))
    assert body["thinking_token_budget"] == 100 and body["max_tokens"] == 214
    assert "thinking_token_budget" not in request_body(endpoint, openai_job())


# -- the CLI flag ------------------------------------------------------------------------------------------

def test_cli_takes_a_thinking_budget(registry, model_dir):  # noqa: F811
    add_version(registry, "5c" * 20, str(model_dir))
    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["solve", "--commit", "5c5c5c5c", "--prompt", "2+2?", "--thinking-budget", "64",
                              "--answer-max-tokens", "16"])
    requests = command._build_requests(args, registry)
    assert (requests["a"].settings.thinking_budget, requests["a"].settings.answer_max_tokens) == (64, 16)
