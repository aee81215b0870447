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
