"""The CLI verbs end to end on a real registry file: output, exit codes, and nothing half-written."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from vibedash.cli.main import build_parser, main
from vibedash.registry.db import open_registry

SHA = "9be11d0c" + "0" * 32


@pytest.fixture
def db(registry_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VIBEDASH_DB_URL", registry_url)
    return registry_url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_every_command_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    helps = {choice.dest: choice.help for choice in sub._choices_actions}
    assert set(helps) == set(sub.choices)
    assert [name for name, text in helps.items() if not text] == []


def test_init_record_show(db, capsys) -> None:
    code, out, _ = run(capsys, "init")
    assert code == 0 and "registry ready" in out and "schema" in out
    code, out, _ = run(capsys, "record", "--commit", SHA, "--branch", "main", "--message", "more RL",
                       "--model", "WeiboAI/VibeThinker-1.5B", "--deploy-id", "6655aa00bb11cc22dd33ee44",
                       "--deploy-url", "https://6655aa00bb11cc22dd33ee44--site.netlify.app")
    assert code == 0 and "recorded 9be11d0 with deploy 6655aa00bb11cc22dd33ee44" in out
    code, out, _ = run(capsys, "show", "9be11d0", "--json")
    data = json.loads(out)
    assert data["sha"] == SHA and data["model"] == "WeiboAI/VibeThinker-1.5B"
    assert data["deploys"][0]["permalink"].startswith("https://6655aa00")
    assert [e["kind"] for e in data["events"]] == ["record"]
    code, out, _ = run(capsys, "show", "9be11d0")
    assert code == 0 and "version 9be11d0c" in out and "deploys" in out


def test_bad_sha_unknown_commit_and_bad_url_exit_codes(db, capsys, tmp_path) -> None:
    code, _, err = run(capsys, "record", "--commit", "not-a-sha")
    assert code == 2 and err.startswith("error: 'not-a-sha' is not a git commit sha") and err.count("\n") == 1
    code, _, err = run(capsys, "show", "abcdef1")
    assert code == 1 and "no version abcdef1" in err
    file = write_json(tmp_path / "r.json", {"aime25": 74.4})
    code, _, err = run(capsys, "import", "--commit", "abcdef1", str(file))
    assert code == 2 and "--create" in err
    code, _, err = run(capsys, "--db", f"sqlite:///{tmp_path / 'nope' / 'x.db'}", "init")
    assert code == 2 and "does not exist" in err


def test_import_is_one_transaction_for_all_files(db, capsys, tmp_path, registry_url) -> None:
    run(capsys, "record", "--commit", SHA)
    good = write_json(tmp_path / "good.json", {"aime25": 74.4, "hmmt25": 50.4})
    bad = write_json(tmp_path / "bad.json", {"aime25": 740})
    code, _, err = run(capsys, "import", "--commit", SHA, str(good), str(bad))
    assert code == 2 and "bad.json" in err
    with open_registry(registry_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM benchmark_result")).scalar_one() == 0
    code, out, _ = run(capsys, "import", "--commit", SHA, str(good))
    assert code == 0 and "aime25" in out and "74.4" in out
    code, out, _ = run(capsys, "list", "--json")
    row = json.loads(out)["versions"][0]
    assert row["aime25"] == 74.4 and row["hmmt25"] == 50.4


def test_an_import_and_its_audit_line_commit_together(db, capsys, tmp_path, registry_url, monkeypatch) -> None:
    from sqlalchemy.exc import OperationalError

    from vibedash.registry import audit

    run(capsys, "record", "--commit", SHA)
    good = write_json(tmp_path / "good.json", {"aime25": 74.4})

    def audit_log_unwritable(*args, **kwargs):
        raise OperationalError("INSERT INTO event", {}, Exception("disk I/O error"))

    monkeypatch.setattr(audit, "record_event_in", audit_log_unwritable)
    code, _, err = run(capsys, "import", "--commit", SHA, str(good))
    assert code != 0 and "Traceback" not in err
    with open_registry(registry_url).connect() as conn:   # no result stored without its audit line
        assert conn.execute(text("SELECT count(*) FROM benchmark_result")).scalar_one() == 0
    monkeypatch.undo()
    monkeypatch.setenv("VIBEDASH_DB_URL", registry_url)
    assert run(capsys, "import", "--commit", SHA, str(good))[0] == 0
    with open_registry(registry_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event WHERE kind = 'import'")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM benchmark_result")).scalar_one() == 1


def test_reimport_replaces_and_newest_import_is_the_headline(db, capsys, tmp_path) -> None:
    run(capsys, "record", "--commit", SHA)
    run(capsys, "import", "--commit", SHA, str(write_json(tmp_path / "a.json", {"aime25": 70.0})))
    run(capsys, "import", "--commit", SHA, str(write_json(tmp_path / "b.json", {"aime25": 0.75})))
    _, out, _ = run(capsys, "show", SHA, "--json")
    results = json.loads(out)["results"]
    assert [(r["score"], r["primary"]) for r in results] == [(75.0, True)]


def test_gate_exit_codes_and_json(db, capsys, registry_url) -> None:
    run(capsys, "demo-data")
    _, out, _ = run(capsys, "list", "--json", "--limit", "100")
    scored = [r for r in json.loads(out)["versions"] if r["aime25"] is not None and not r["live"]]
    sha = scored[0]["sha"]
    code, out, _ = run(capsys, "gate", "--commit", sha, "--rule", "aime25 >= 0")
    assert code == 0 and "✓" in out
    code, out, _ = run(capsys, "gate", "--commit", sha, "--rule", "aime25 >= 99.9", "--json")
    verdict = json.loads(out)
    assert code == 1 and verdict["passed"] is False and verdict["checks"][0]["passed"] is False
    code, _, err = run(capsys, "gate", "--commit", sha, "--rule", "aime25 is great")
    assert code == 2 and "aime25 >= 75" in err  # the error shows the accepted forms
    code, _, err = run(capsys, "gate", "--commit", sha, "--policy", "missing.toml")
    assert code == 2 and "missing.toml" in err


def test_gate_trigger_only_when_it_passes_needs_a_hook(db, capsys) -> None:
    run(capsys, "demo-data")
    _, out, _ = run(capsys, "list", "--json")
    sha = next(r["sha"] for r in json.loads(out)["versions"] if r["aime25"] is not None)
    code, _, err = run(capsys, "gate", "--commit", sha, "--rule", "aime25 >= 0", "--trigger")
    assert code == 2 and "VIBEDASH_BUILD_HOOK_URL is not set" in err
    code, _, _ = run(capsys, "gate", "--commit", sha, "--rule", "aime25 >= 99.9", "--trigger")
    assert code == 1


def test_export_json_and_csv(db, capsys, tmp_path) -> None:
    run(capsys, "demo-data")
    code, out, _ = run(capsys, "export", "--format", "json")
    data = json.loads(out)
    assert code == 0 and len(data["versions"]) == 40 and data["deploys"] and data["results"]
    target = tmp_path / "registry.csv"
    code, _, _ = run(capsys, "export", "--format", "csv", "-o", str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert code == 0 and len(rows) == len(data["results"]) and {"sha", "benchmark", "score"} <= set(rows[0])


def test_demo_data_fills_only_an_empty_registry(db, capsys) -> None:
    code, out, _ = run(capsys, "demo-data")
    assert code == 0 and "synthetic" in out
    code, _, err = run(capsys, "demo-data")
    assert code == 2 and "already has versions" in err
    code, out, _ = run(capsys, "list")
    assert "● live" in out and "AIME25" in out


def test_settings_never_print_the_token(capsys, monkeypatch) -> None:
    monkeypatch.setenv("NETLIFY_AUTH_TOKEN", "nfp_top_secret_value")
    code, out, _ = run(capsys, "settings")
    assert code == 0 and "NETLIFY_AUTH_TOKEN" in out and "nfp_top_secret_value" not in out and "set" in out


# --- bad input gets one line on stderr, never a traceback ----------------------------------------------

def one_error_line(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("target, says", [
    (".", "is a folder; give a file name"),
    ("missing-folder/registry.json", "the folder missing-folder does not exist"),
    ("/dev/full", "cannot be written"),  # a real write error, even for root (read-only files are not, for root)
])
def test_export_to_a_path_it_cannot_write_says_why(db, capsys, tmp_path, monkeypatch, target, says) -> None:
    monkeypatch.chdir(tmp_path)
    run(capsys, "init")
    code, _, err = run(capsys, "export", "-o", target)
    assert code == 2 and says in one_error_line(err)


def test_list_into_a_closed_pipe_ends_quietly(db, tmp_path) -> None:
    """`list | head`: the reader went away before reading. Deterministic: the pipe is closed before the run."""
    import os
    import subprocess
    import sys

    assert main(["demo-data"]) == 0
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "vibedash", "list", "--limit", "40"], check=False,
                              stdout=write_end,
                              stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1], timeout=120)
    finally:
        os.close(write_end)
    assert done.returncode == 0 and done.stderr == b""


def test_import_of_a_folder_says_it_is_a_folder(db, capsys, tmp_path) -> None:
    run(capsys, "record", "--commit", SHA)
    code, _, err = run(capsys, "import", "--commit", SHA, str(tmp_path))
    assert code == 2 and "is a folder" in one_error_line(err)


@pytest.mark.parametrize("content, says", [
    pytest.param('{"aime25": "high"}', "score 'aime25' is 'high', not a number", id="word"),
    pytest.param('{"aime25": 1' + "0" * 400 + "}", "above 100", id="401-digit-integer"),
])
def test_import_of_a_bad_score_names_the_score(db, capsys, tmp_path, content, says) -> None:
    run(capsys, "record", "--commit", SHA)
    path = tmp_path / "scores.json"
    path.write_text(content)
    code, _, err = run(capsys, "import", "--commit", SHA, str(path))
    assert code == 2 and says in one_error_line(err)


def test_import_of_a_file_with_a_huge_first_line(db, capsys, tmp_path) -> None:
    run(capsys, "record", "--commit", SHA)
    path = tmp_path / "huge.csv"
    path.write_text("dataset,pass@1," + "x" * 140_000 + "\naime25,0.5,1\n")
    code, _, err = run(capsys, "import", "--commit", SHA, str(path))
    assert code == 2 and "huge.csv" in one_error_line(err)


def test_gate_rule_with_a_mistyped_benchmark_is_bad_input(db, capsys) -> None:
    run(capsys, "demo-data")
    _, out, _ = run(capsys, "list", "--json")
    sha = json.loads(out)["versions"][0]["sha"]
    code, out, err = run(capsys, "gate", "--commit", sha, "--rule", "foo25 >= 75")
    assert code == 2 and out == "" and "foo25" in one_error_line(err) and "aime25" in err


def test_solve_without_a_model_reference_is_one_line_on_stderr(db, capsys) -> None:
    run(capsys, "record", "--commit", SHA)
    code, out, err = run(capsys, "solve", "--commit", SHA[:8], "--problem", "math-01")
    assert code == 2 and out == "" and "has no model reference" in one_error_line(err)


def test_retention_apply_without_netlify_fails_before_the_plan(db, capsys) -> None:
    run(capsys, "demo-data")
    code, out, err = run(capsys, "retention", "apply", "--yes")
    assert code == 2 and out == "" and "NETLIFY_AUTH_TOKEN" in one_error_line(err)


def test_show_prints_the_audit_events(db, capsys) -> None:
    run(capsys, "record", "--commit", SHA, "--branch", "main")
    code, out, _ = run(capsys, "show", SHA[:8])
    events = out.split("audit events", 1)
    assert code == 0 and len(events) == 2 and "record" in events[1] and "tester" in events[1]


def test_readme_counts_the_settings_netlify_sim_prints(tmp_path) -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    process = subprocess.Popen([sys.executable, "-m", "vibedash", "netlify-sim", "--port", "0", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                               env={**__import__("os").environ, "PYTHONPATH": str(repo)})
    try:
        lines = [process.stdout.readline() for _ in range(5)]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert "Use these settings" in lines[0]
    settings = [line for line in lines[1:] if "=" in line]
    words = {3: "three", 4: "four", 5: "five"}
    readme = (repo / "README.md").read_text()
    assert f"prints the {words[len(settings)]} settings to use" in readme
