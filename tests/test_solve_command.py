"""``python -m vibedash solve``: the subcommand's parser and handler, on a real registry and tiny models."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: tests never download

import argparse
import io
import time

import pytest
from tiny_model import save_tiny_model

from vibedash.config import load_settings
from vibedash.registry.db import open_registry, unit_of_work
from vibedash.registry.models import Version
from vibedash.solve import command

SHA_A, SHA_B, SHA_GONE = "a1" * 20, "b2" * 20, "c3" * 20


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return save_tiny_model(root / "one", seed=1), save_tiny_model(root / "two", seed=2)


@pytest.fixture
def registry(tmp_path, models):
    engine = open_registry(f"sqlite:///{tmp_path / 'registry.db'}")
    with unit_of_work(engine) as session:
        session.add_all([Version(sha=SHA_A, model_ref=str(models[0])), Version(sha=SHA_B, model_ref=str(models[1])),
                         Version(sha=SHA_GONE, model_ref=str(tmp_path / "gone"))])
    yield engine
    engine.dispose()


def solve(registry, tmp_path, *argv):
    parser = argparse.ArgumentParser(prog="vibedash")
    command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["solve", *argv])
    settings = load_settings(overrides={"solve_device": "cpu"}, environ={}, cwd=tmp_path)
    out = io.StringIO()
    code = command.run(args, settings, registry, out=out)
    return code, out.getvalue()


def test_solve_streams_then_prints_grade_and_speed(registry, tmp_path, capsys):
    code, out = solve(registry, tmp_path, "--commit", SHA_A[:6], "--problem", "math-02", "--max-new-tokens", "16")
    assert code == 0
    *streamed, summary, figures, detail = out.rstrip("\n").split("\n")
    assert streamed  # the generated text came first
    assert summary.startswith(f"{SHA_A[:7]}  answer (none)  wrong · ")
    assert "s to first token" in summary and "tokens/s" in summary and summary.endswith("16 tokens")
    # No end-of-thinking in 16 tokens of a random model: all thinking, cut by the cap, no answer token.
    assert figures.strip().startswith("thinking 16 · answer 0 tokens · load ")
    assert "first answer token – · total " in figures and figures.endswith("cut by the token cap")
    assert detail.strip() == "no \\boxed{} answer in the output (cut off, or never answered)"

    code, again = solve(registry, tmp_path, "--commit", SHA_A[:6], "--problem", "math-02", "--max-new-tokens", "16")
    assert code == 0 and "(answered from the solve log; --fresh to generate again)" in again
    assert again.rstrip("\n").split("\n")[-3].endswith(" · cached")
    _, fresh = solve(registry, tmp_path, "--commit", SHA_A[:6], "--problem", "math-02", "--max-new-tokens", "16",
                     "--fresh")
    assert "cached" not in fresh


def test_compare_prefixes_each_side(registry, tmp_path):
    code, out = solve(registry, tmp_path, "--commit", SHA_A[:8], "--compare", SHA_B[:8], "--prompt", "What is 2+2?",
                      "--answer", "4", "--max-new-tokens", "40", "--k", "2", "--seed", "3")
    assert code == 0
    lines = out.rstrip("\n").split("\n")
    streamed = [line for line in lines if line.startswith("[")]
    assert {line[:9] for line in streamed} == {f"[{SHA_A[:7]}]", f"[{SHA_B[:7]}]"}
    summaries = [line for line in lines if line.startswith((SHA_A[:7], SHA_B[:7]))]
    assert len(summaries) == 2 and all("agreement 0%" in line for line in summaries)


@pytest.mark.parametrize("argv, code, message", [
    (["--commit", "ffff", "--problem", "math-01"], 1, "no version with commit ffff"),
    (["--commit", "main", "--problem", "math-01"], 2, "'main' is not a commit"),
    (["--commit", SHA_A[:6], "--problem", "math-99"], 1, "no problem 'math-99'; known problems: math-01"),
    (["--commit", SHA_A[:6], "--problem", "math-01", "--answer", "3"], 2, "--answer goes with --prompt"),
    (["--commit", SHA_A[:6], "--problem", "math-01", "--k", "0"], 2, "samples (k) 0 is out of range"),
    (["--commit", SHA_A[:6], "--prompt", "  "], 2, "--prompt is empty"),
    (["--commit", SHA_A[:6], "--problem", "p1", "--problems", "missing.jsonl"], 2, "cannot read problem file"),
])
def test_bad_requests_exit_with_a_message(registry, tmp_path, capsys, argv, code, message):
    assert solve(registry, tmp_path, *argv)[0] == code
    assert message in capsys.readouterr().err


def test_a_missing_model_is_reported_and_exits_1(registry, tmp_path):
    code, out = solve(registry, tmp_path, "--commit", SHA_GONE[:6], "--problem", "math-01")
    assert code == 1
    assert f"{SHA_GONE[:7]}  failed: model reference" in out and "record --commit c3c3c3c" in out


def test_problems_from_a_file(registry, tmp_path):
    problems = tmp_path / "mine.jsonl"
    problems.write_text('{"id": "p1", "kind": "math", "prompt": "What is 6*7?", "answer": "42"}\n')
    code, out = solve(registry, tmp_path, "--commit", SHA_A[:6], "--problem", "p1", "--problems", str(problems),
                      "--max-new-tokens", "8", "--temperature", "0")
    assert code == 0 and "answer (none)  wrong" in out


def test_two_sides_stream_token_by_token_without_waiting_for_a_newline():
    out = io.StringIO()
    printer = command._StreamPrinter(out, {"a": "aaaaaaa", "b": "bbbbbbb"}, flush_every_s=0.2)
    printer.write("a", "The answer")
    assert out.getvalue() == "[aaaaaaa] The answer"  # out at once, no newline needed
    printer.write("a", " is")
    printer.write("b", "Let me")  # the other side: its own line
    assert out.getvalue() == "[aaaaaaa] The answer is\n[bbbbbbb] Let me"
    printer.write("a", " 4")  # held back briefly so the lines do not shred into single tokens
    assert out.getvalue().endswith("Let me")
    time.sleep(0.25)
    printer.write("a", ".\nDone")
    printer.flush()
    assert out.getvalue() == "[aaaaaaa] The answer is\n[bbbbbbb] Let me\n[aaaaaaa]  4.\n[aaaaaaa] Done\n"
