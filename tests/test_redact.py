"""The shared redaction helper: secrets, hook ids and URL passwords never survive into text."""

from __future__ import annotations

from vibedash.redact import (
    hook_id_of,
    mask_url_password,
    redact,
    redact_data,
    register_secret,
    token_problem,
)


def test_registered_secrets_hook_urls_bearer_tokens_and_passwords_are_removed() -> None:
    register_secret("nfp_registered_secret_value")
    text = ("Netlify said nfp_registered_secret_value is bad; POST https://api.netlify.com/build_hooks/5f3a9c1b2 "
            "failed; header Bearer abc.def.ghi; db postgresql+psycopg://me:hunter2pass@db:5432/reg")
    cleaned = redact(text)
    for secret in ("nfp_registered_secret_value", "5f3a9c1b2", "abc.def.ghi", "hunter2pass"):
        assert secret not in cleaned
    assert "/build_hooks/<hook id>" in cleaned and "postgresql+psycopg://me:***@db:5432/reg" in cleaned


def test_redaction_reaches_into_nested_data_and_leaves_other_values_alone() -> None:
    register_secret("another-secret-9876")
    data = {"steps": ["ok", "another-secret-9876"], "n": 3, "nested": {"why": ("another-secret-9876",)}}
    assert redact_data(data) == {"steps": ["ok", "<redacted>"], "n": 3, "nested": {"why": ("<redacted>",)}}
    assert redact(None) is None and redact("plain words") == "plain words"
    assert redact("x", extra=["short"]) == "x"


def test_hook_ids_and_masked_urls() -> None:
    assert hook_id_of("https://api.netlify.com/build_hooks/abc123?x=1") == "abc123"
    assert hook_id_of(None) is None
    assert mask_url_password("sqlite:///vibedash.db") == "sqlite:///vibedash.db"
    assert mask_url_password("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"


def test_token_problems_say_where_but_never_what() -> None:
    assert token_problem("nfp_fine_token") is None and token_problem(None) is None
    problem = token_problem("nfp_first\nnfp_second")
    assert "line break" in problem and "character 10" in problem and "nfp_" not in problem
    assert "control character" in token_problem("a\x07b") and "ASCII" in token_problem("tökén")
