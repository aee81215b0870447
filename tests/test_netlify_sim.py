"""The Netlify simulator, checked over real loopback HTTP against Netlify's official spec."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from vibedash.netlify.simulator import (
    API_PREFIX,
    DEPLOY_STATES,
    NetlifySimulator,
    _is_loopback,
    main,
    seed_demo,
)

SPEC_PATH = Path(__file__).parent / "fixtures" / "netlify-openapi.yml"
TOKEN = "sim-test-token"
REPO_ROOT = Path(__file__).resolve().parent.parent

# Fields the registry and the actions depend on: every deploy object must carry them.
IMPORTANT_DEPLOY_FIELDS = {
    "id", "site_id", "build_id", "state", "name", "url", "ssl_url", "admin_url", "deploy_url", "deploy_ssl_url",
    "commit_ref", "commit_url", "branch", "context", "title", "created_at", "updated_at", "published_at",
    "locked", "error_message", "review_url", "skipped", "draft",
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def sim():
    with NetlifySimulator(token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def site(sim: NetlifySimulator) -> dict[str, Any]:
    return sim.create_site(name="vibethinker", repo_url="https://github.com/example/vibethinker")


def call(sim: NetlifySimulator, method: str, path: str, *, token: str | None = TOKEN, **kwargs: Any):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, sim.api_url + path, headers=headers, timeout=5, **kwargs)


# ------------------------------------------------------------------------------------ spec conformance


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["definitions"][name] if "/definitions/" in schema["$ref"] else spec["responses"][name]
    return schema


JSON_TYPES = {"string": str, "boolean": bool, "integer": int, "number": (int, float), "array": list,
              "object": dict}


def assert_matches_schema(spec: dict[str, Any], value: Any, schema: dict[str, Any], where: str) -> None:
    """Keys must be declared in the spec and values of the declared type (any value may be null)."""
    schema = resolve(spec, schema)
    if value is None:
        return
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind is not None:
        assert isinstance(value, JSON_TYPES[kind]), f"{where}: {value!r} is not {kind}"
        assert not (kind in ("integer", "number") and isinstance(value, bool)), f"{where}: bool is not {kind}"
    if kind == "array":
        for index, item in enumerate(value):
            assert_matches_schema(spec, item, schema.get("items", {}), f"{where}[{index}]")
    elif kind == "object" and "properties" in schema:
        undeclared = set(value) - set(schema["properties"])
        assert not undeclared, f"{where}: fields not in the spec: {sorted(undeclared)}"
        for key, item in value.items():
            assert_matches_schema(spec, item, schema["properties"][key], f"{where}.{key}")


def test_every_route_is_an_operation_of_the_spec(spec: dict[str, Any]) -> None:
    assert spec["basePath"] == API_PREFIX
    for method, path in NetlifySimulator.routes():
        assert path in spec["paths"], f"{path} is not in the spec"
        assert method.lower() in spec["paths"][path], f"{method} {path} is not in the spec"


def test_every_route_answers_with_the_spec_status_and_shape(spec: dict[str, Any], sim: NetlifySimulator,
                                                          site: dict[str, Any]) -> None:
    old = sim.add_deploy(site["id"], commit_ref="a" * 40, title="v1")
    spare = sim.add_deploy(site["id"], commit_ref="b" * 40, title="v2")
    other = sim.add_deploy(site["id"], commit_ref="c" * 40, title="v3")
    hook = sim.add_build_hook(site["id"], title="ci", branch="main")
    ids = {"site_id": site["id"], "id": hook["id"]}
    # Order matters: restore publishes `old`, so `spare` and `other` can be deleted afterwards.
    plan = [
        ("GET", "/sites", old["id"], None),
        ("GET", "/sites/{site_id}", old["id"], None),
        ("GET", "/sites/{site_id}/deploys", old["id"], None),
        ("GET", "/sites/{site_id}/deploys/{deploy_id}", old["id"], None),
        ("GET", "/deploys/{deploy_id}", old["id"], None),
        ("POST", "/sites/{site_id}/deploys/{deploy_id}/restore", old["id"], None),
        ("POST", "/deploys/{deploy_id}/lock", old["id"], None),
        ("POST", "/deploys/{deploy_id}/unlock", old["id"], None),
        ("DELETE", "/sites/{site_id}/deploys/{deploy_id}", spare["id"], None),
        ("DELETE", "/deploys/{deploy_id}", other["id"], None),
        ("GET", "/sites/{site_id}/build_hooks", old["id"], None),
        ("POST", "/sites/{site_id}/build_hooks", old["id"], {"title": "nightly", "branch": "main"}),
        ("GET", "/sites/{site_id}/build_hooks/{id}", old["id"], None),
        ("DELETE", "/sites/{site_id}/build_hooks/{id}", old["id"], None),
    ]
    assert {(method, path) for method, path, _, _ in plan} == set(NetlifySimulator.routes())
    for method, template, deploy_id, body in plan:
        response = call(sim, method, template.format(**ids, deploy_id=deploy_id), json=body)
        operation = spec["paths"][template][method.lower()]
        success = [code for code in operation["responses"] if code != "default"]
        assert str(response.status_code) in success, f"{method} {template}: {response.status_code} {response.text}"
        schema = operation["responses"][str(response.status_code)].get("schema")
        if schema is None:
            assert response.content == b"", f"{method} {template} must have no body"
        else:
            assert_matches_schema(spec, response.json(), schema, f"{method} {template}")
    assert sim.internal_errors == []


def test_errors_use_the_spec_error_envelope(spec: dict[str, Any], sim: NetlifySimulator,
                                            site: dict[str, Any]) -> None:
    error_schema = spec["definitions"]["error"]
    for response in (call(sim, "GET", "/deploys/nope"), call(sim, "GET", "/sites", token=None),
                     call(sim, "GET", f"/sites/{site['id']}/deploys", params={"state": "melted"})):
        body = response.json()
        assert set(error_schema["required"]) <= set(body)
        assert_matches_schema(spec, body, error_schema, "error")
        assert body["code"] == response.status_code


def test_deploy_objects_carry_the_important_fields_with_their_values(site: dict[str, Any],
                                                                     sim: NetlifySimulator) -> None:
    created = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    deploy = sim.add_deploy(site["id"], commit_ref="f" * 40, branch="main", title="Publish sft-base",
                            created_at=created)
    body = call(sim, "GET", f"/deploys/{deploy['id']}").json()
    assert IMPORTANT_DEPLOY_FIELDS <= set(body)
    assert body["commit_ref"] == "f" * 40
    assert body["commit_url"] == f"https://github.com/example/vibethinker/commit/{'f' * 40}"
    assert body["created_at"] == "2025-03-01T12:30:00.000Z"
    assert body["published_at"] == "2025-03-01T12:30:00.000Z"
    assert body["deploy_ssl_url"] == f"https://{deploy['id']}--vibethinker.netlify.app"
    assert (body["state"], body["context"], body["locked"], body["title"]) == (
        "ready", "production", False, "Publish sft-base")


# ------------------------------------------------------------------------------------------ paging


def test_deploys_are_listed_newest_first_in_pages_with_link_headers(sim: NetlifySimulator,
                                                                    site: dict[str, Any]) -> None:
    sim.seed(250, site["id"])
    first = call(sim, "GET", f"/sites/{site['id']}/deploys", params={"per_page": 100})
    assert len(first.json()) == 100
    assert set(first.links) == {"next", "last"}
    assert "page=2" in first.links["next"]["url"] and "page=3" in first.links["last"]["url"]

    seen = list(first.json())
    url = first.links["next"]["url"]
    while url:
        page = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        seen += page.json()
        url = page.links.get("next", {}).get("url")
    assert "prev" in page.links and "page=2" in page.links["prev"]["url"]
    assert len(page.json()) == 50
    assert len({d["id"] for d in seen}) == 250
    created = [d["created_at"] for d in seen]
    assert created == sorted(created, reverse=True)


def test_per_page_is_capped_at_100_and_filters_survive_into_links(sim: NetlifySimulator,
                                                                   site: dict[str, Any]) -> None:
    sim.seed(150, site["id"])
    response = call(sim, "GET", f"/sites/{site['id']}/deploys", params={"per_page": 500, "state": "ready"})
    assert len(response.json()) == 100
    assert "state=ready" in response.links["next"]["url"] and "per_page=100" in response.links["next"]["url"]
    empty = call(sim, "GET", f"/sites/{site['id']}/deploys", params={"page": 9})
    assert empty.json() == [] and "next" not in empty.links


def test_deploy_list_filters(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    live = sim.add_deploy(site["id"], commit_ref="1" * 40)
    failed = sim.add_deploy(site["id"], commit_ref="2" * 40, state="error", error_message="boom")
    preview = sim.add_deploy(site["id"], commit_ref="3" * 40, branch="feature", context="deploy-preview",
                             review_id=7)

    def ids(**params: Any) -> list[str]:
        return [d["id"] for d in call(sim, "GET", f"/sites/{site['id']}/deploys", params=params).json()]

    assert ids(state="error") == [failed["id"]]
    assert ids(branch="feature") == [preview["id"]]
    assert ids(production="true") == [failed["id"], live["id"]]
    assert ids(production="false") == [preview["id"]]
    assert ids(**{"deploy-previews": "true"}) == [preview["id"]]
    assert ids(**{"latest-published": "true"}) == [live["id"]]
    assert preview["review_url"] == "https://github.com/example/vibethinker/pull/7"
    assert failed["error_message"] == "boom"
    bad = call(sim, "GET", f"/sites/{site['id']}/deploys", params={"state": "melted"})
    assert bad.status_code == 422 and "ready" in bad.json()["message"]
    assert set(DEPLOY_STATES) >= {"ready", "error", "building"}


def test_sites_are_listed_and_found_by_name(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.create_site(name="another")
    assert {s["name"] for s in call(sim, "GET", "/sites").json()} == {"vibethinker", "another"}
    assert [s["id"] for s in call(sim, "GET", "/sites", params={"name": "vibe"}).json()] == [site["id"]]
    assert call(sim, "GET", "/sites/vibethinker.netlify.app").json()["id"] == site["id"]
    assert call(sim, "GET", "/sites/no-such-site").status_code == 404


def test_seeding_five_thousand_deploys(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    # How fast seeding is belongs to bench/bench_sync.py, not to a timed assertion on a shared machine.
    seeded = sim.seed(5000, site["id"])
    assert len(seeded) == 5000 and sim.deploy_count(site["id"]) == 5000
    assert sim.published_deploy_id(site["id"]) == seeded[-1]["id"]
    assert seeded[0]["published_at"] == seeded[0]["created_at"]  # each was live once
    page = call(sim, "GET", f"/sites/{site['id']}/deploys")
    assert page.json()[0]["id"] == seeded[-1]["id"] and "page=50" in page.links["last"]["url"]


# ------------------------------------------------------------------------------ publish and lock semantics


def test_new_production_deploys_auto_publish_but_previews_never_do(sim: NetlifySimulator,
                                                                   site: dict[str, Any]) -> None:
    first = sim.add_deploy(site["id"], commit_ref="1" * 40)
    assert sim.published_deploy_id(site["id"]) == first["id"]
    sim.add_deploy(site["id"], commit_ref="2" * 40, branch="feature", context="deploy-preview")
    sim.add_deploy(site["id"], commit_ref="3" * 40, state="error")
    assert sim.published_deploy_id(site["id"]) == first["id"]
    second = sim.add_deploy(site["id"], commit_ref="4" * 40)
    published = call(sim, "GET", f"/sites/{site['id']}").json()["published_deploy"]
    assert published["id"] == second["id"] and published["published_at"]
    unpublished = sim.add_deploy(site["id"], commit_ref="5" * 40, publish=False)
    assert sim.published_deploy_id(site["id"]) == second["id"]
    assert unpublished["published_at"] is None


def test_a_locked_site_keeps_its_deploy_until_a_person_publishes_another(sim: NetlifySimulator,
                                                                          site: dict[str, Any]) -> None:
    pinned = sim.add_deploy(site["id"], commit_ref="1" * 40)
    locked = call(sim, "POST", f"/deploys/{pinned['id']}/lock")
    assert locked.status_code == 200 and locked.json()["locked"] is True

    newer = sim.add_deploy(site["id"], commit_ref="2" * 40)
    assert newer["state"] == "ready" and newer["published_at"] is None
    assert sim.published_deploy_id(site["id"]) == pinned["id"]

    unlocked = call(sim, "POST", f"/deploys/{pinned['id']}/unlock").json()
    assert unlocked["locked"] is False
    assert sim.published_deploy_id(site["id"]) == pinned["id"]  # unlocking publishes nothing by itself
    latest = sim.add_deploy(site["id"], commit_ref="3" * 40)
    assert sim.published_deploy_id(site["id"]) == latest["id"]


def test_only_the_published_deploy_can_be_locked(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    old = sim.add_deploy(site["id"], commit_ref="1" * 40)
    sim.add_deploy(site["id"], commit_ref="2" * 40)
    refused = call(sim, "POST", f"/deploys/{old['id']}/lock")
    assert refused.status_code == 422 and "publish it" in refused.json()["message"]


def test_restore_publishes_a_ready_deploy_and_keeps_the_lock(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    old = sim.add_deploy(site["id"], commit_ref="1" * 40)
    new = sim.add_deploy(site["id"], commit_ref="2" * 40)
    call(sim, "POST", f"/deploys/{new['id']}/lock")
    restored = call(sim, "POST", f"/sites/{site['id']}/deploys/{old['id']}/restore")
    assert restored.status_code == 201
    published = call(sim, "GET", f"/sites/{site['id']}").json()["published_deploy"]
    assert published["id"] == old["id"] and published["locked"] is True
    assert call(sim, "GET", f"/deploys/{new['id']}").json()["locked"] is False


def test_restore_can_be_told_to_clear_the_lock() -> None:
    with NetlifySimulator(token=TOKEN, restore_keeps_lock=False) as sim:
        site = sim.create_site()
        old = sim.add_deploy(site["id"], commit_ref="1" * 40)
        new = sim.add_deploy(site["id"], commit_ref="2" * 40)
        call(sim, "POST", f"/deploys/{new['id']}/lock")
        call(sim, "POST", f"/sites/{site['id']}/deploys/{old['id']}/restore")
        assert call(sim, "GET", f"/sites/{site['id']}").json()["published_deploy"]["locked"] is False


def test_restore_refuses_deploys_that_are_not_ready(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    live = sim.add_deploy(site["id"], commit_ref="1" * 40)
    failed = sim.add_deploy(site["id"], commit_ref="2" * 40, state="error", error_message="boom")
    refused = call(sim, "POST", f"/sites/{site['id']}/deploys/{failed['id']}/restore")
    assert refused.status_code == 422 and "error" in refused.json()["message"]
    assert sim.published_deploy_id(site["id"]) == live["id"]
    other_site = sim.create_site(name="other")
    assert call(sim, "POST", f"/sites/{other_site['id']}/deploys/{live['id']}/restore").status_code == 404


def test_delete_refuses_the_published_deploy_and_removes_others(sim: NetlifySimulator,
                                                                 site: dict[str, Any]) -> None:
    old = sim.add_deploy(site["id"], commit_ref="1" * 40)
    live = sim.add_deploy(site["id"], commit_ref="2" * 40)
    refused = call(sim, "DELETE", f"/sites/{site['id']}/deploys/{live['id']}")
    assert refused.status_code == 422 and "published" in refused.json()["message"]
    assert call(sim, "DELETE", f"/sites/{site['id']}/deploys/{old['id']}").status_code == 204
    assert call(sim, "GET", f"/deploys/{old['id']}").status_code == 404
    assert call(sim, "DELETE", f"/deploys/{old['id']}").status_code == 404
    assert sim.deploy_count(site["id"]) == 1


def test_seeding_helpers_reject_bad_input_clearly(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="state must be one of"):
        sim.add_deploy(site["id"], state="done")
    with pytest.raises(ValueError, match="context must be one of"):
        sim.add_deploy(site["id"], context="prod")
    with pytest.raises(ValueError, match="no site"):
        sim.add_deploy("missing")
    with pytest.raises(ValueError, match="only a ready deploy"):
        sim.add_deploy(site["id"], state="error", publish=True)
    kept = sim.add_deploy(site["id"], deploy_id="fixed-id-1", created_at="2025-01-02T03:04:05Z")
    assert kept["id"] == "fixed-id-1" and kept["created_at"] == "2025-01-02T03:04:05.000Z"
    with pytest.raises(ValueError, match="already exists"):
        sim.add_deploy(site["id"], deploy_id="fixed-id-1")


# -------------------------------------------------------------------------------------------- hooks


def test_build_hooks_are_created_and_listed(spec: dict[str, Any], sim: NetlifySimulator,
                                            site: dict[str, Any]) -> None:
    created = call(sim, "POST", f"/sites/{site['id']}/build_hooks", json={"title": "nightly", "branch": "main"})
    assert created.status_code == 201
    hook = created.json()
    assert hook["url"] == f"{sim.hook_base}/{hook['id']}" and hook["url"].startswith("http://127.0.0.1:")
    assert [h["id"] for h in call(sim, "GET", f"/sites/{site['id']}/build_hooks").json()] == [hook["id"]]
    assert call(sim, "POST", f"/sites/{site['id']}/build_hooks", json={"branch": "main"}).status_code == 422


def test_a_hook_needs_no_token_and_starts_a_deploy_that_auto_publishes(sim: NetlifySimulator,
                                                                       site: dict[str, Any]) -> None:
    sim.add_deploy(site["id"], commit_ref="9" * 40)
    hook = sim.add_build_hook(site["id"], title="ci", branch="main")
    response = requests.post(hook["url"], params={"trigger_title": "run 42"}, data='{"run": 42}', timeout=5)
    assert response.status_code == 200 and response.content == b""
    [triggered] = sim.hook_calls
    assert (triggered.title, triggered.branch, triggered.payload) == ("run 42", "main", '{"run": 42}')
    deploy = sim.deploy(triggered.deploy_id)
    assert (deploy["title"], deploy["state"], deploy["context"]) == ("run 42", "ready", "production")
    assert deploy["commit_ref"] == "9" * 40  # the branch's newest commit is what gets built
    assert sim.published_deploy_id(site["id"]) == deploy["id"]


def test_a_hook_on_another_branch_makes_a_branch_deploy(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    live = sim.add_deploy(site["id"], commit_ref="1" * 40)
    hook = sim.add_build_hook(site["id"])
    requests.post(hook["url"], params={"trigger_branch": "experiment"}, timeout=5)
    deploy = sim.deploy(sim.hook_calls[0].deploy_id)
    assert (deploy["branch"], deploy["context"]) == ("experiment", "branch-deploy")
    assert deploy["title"] == "Deploy triggered by hook: vibedash"
    assert sim.published_deploy_id(site["id"]) == live["id"]


def test_hook_builds_take_their_time_and_respect_the_lock() -> None:
    with NetlifySimulator(token=TOKEN, build_seconds=0.3) as sim:
        site = sim.create_site()
        live = sim.add_deploy(site["id"], commit_ref="1" * 40)
        hook = sim.add_build_hook(site["id"])
        requests.post(hook["url"], timeout=5)
        first = sim.hook_calls[0].deploy_id
        assert sim.deploy(first)["state"] == "building"
        assert sim.published_deploy_id(site["id"]) == live["id"]
        time.sleep(0.35)
        assert sim.deploy(first)["state"] == "ready"
        assert sim.published_deploy_id(site["id"]) == first

        call(sim, "POST", f"/deploys/{first}/lock")
        requests.post(hook["url"], timeout=5)
        time.sleep(0.35)
        second = sim.deploy(sim.hook_calls[1].deploy_id)
        assert second["state"] == "ready" and second["published_at"] is None
        assert sim.published_deploy_id(site["id"]) == first


def test_a_seeded_building_deploy_finishes_on_its_own(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    live = sim.add_deploy(site["id"], commit_ref="1" * 40)
    building = sim.add_deploy(site["id"], commit_ref="2" * 40, state="building", ready_in=0.2)
    assert building["state"] == "building" and sim.published_deploy_id(site["id"]) == live["id"]
    time.sleep(0.25)
    listed = call(sim, "GET", f"/sites/{site['id']}/deploys").json()
    assert (listed[0]["id"], listed[0]["state"]) == (building["id"], "ready")
    assert sim.published_deploy_id(site["id"]) == building["id"]


def test_failing_builds_end_in_error(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    live = sim.add_deploy(site["id"], commit_ref="1" * 40)
    hook = sim.add_build_hook(site["id"])
    sim.fail_next_builds(1, message="tests failed")
    requests.post(hook["url"], timeout=5)
    deploy = sim.deploy(sim.hook_calls[0].deploy_id)
    assert (deploy["state"], deploy["error_message"]) == ("error", "tests failed")
    assert sim.published_deploy_id(site["id"]) == live["id"]


def test_unknown_hook_is_404(sim: NetlifySimulator) -> None:
    response = requests.post(f"{sim.hook_base}/does-not-exist", timeout=5)
    assert response.status_code == 404 and response.json()["code"] == 404


# ------------------------------------------------------------------------------------ auth and limits


def test_missing_or_wrong_token_is_401_with_access_denied(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    for token in (None, "wrong"):
        response = call(sim, "GET", f"/sites/{site['id']}", token=token)
        assert response.status_code == 401
        assert response.json()["message"].startswith("Access Denied")
    basic = requests.get(f"{sim.api_url}/sites", headers={"Authorization": f"Basic {TOKEN}"}, timeout=5)
    assert basic.status_code == 401


def test_every_api_response_carries_rate_limit_headers(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.inject("500", path_contains="/build_hooks")
    responses = [call(sim, "GET", f"/sites/{site['id']}"), call(sim, "GET", "/deploys/nope"),
                 call(sim, "GET", "/sites", token=None), call(sim, "GET", f"/sites/{site['id']}/build_hooks")]
    assert responses[-1].status_code == 500
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in responses]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] > remaining[-1]
    for response in responses:
        assert int(response.headers["X-RateLimit-Limit"]) == 500
        assert 0 < int(response.headers["X-RateLimit-Reset"]) - time.time() <= 61


def test_the_rate_limit_is_enforced() -> None:
    with NetlifySimulator(token=TOKEN, rate_limit_per_minute=3) as sim:
        statuses = [call(sim, "GET", "/sites").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = call(sim, "GET", "/sites")
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert int(refused.headers["X-RateLimit-Reset"]) > time.time()


def test_unknown_path_is_404_and_wrong_method_405(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    assert call(sim, "GET", "/nothing/here").status_code == 404
    wrong = call(sim, "GET", f"/sites/{site['id']}/deploys/x/restore")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"


# ------------------------------------------------------------------------------------------- faults


def test_injected_429_carries_reset_and_retry_after(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.inject("429", reset_in=30, retry_after=30)
    refused = call(sim, "GET", f"/sites/{site['id']}")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert 29 <= int(refused.headers["X-RateLimit-Reset"]) - time.time() <= 31
    assert call(sim, "GET", f"/sites/{site['id']}").status_code == 200  # count=1: only the next request


def test_injected_server_errors_match_paths_and_run_out(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.inject("500", count=2, path_contains="/deploys")
    sim.inject("503", path_contains="/build_hooks", retry_after=2)
    assert call(sim, "GET", f"/sites/{site['id']}").status_code == 200  # does not match, not consumed
    statuses = [call(sim, "GET", f"/sites/{site['id']}/deploys").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    unavailable = call(sim, "GET", f"/sites/{site['id']}/build_hooks")
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "2"
    assert [status for _, _, status in sim.requests] == [200, 500, 500, 200, 503]


def test_injected_slow_answers_still_answer(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.inject("slow", seconds=0.3)
    started = time.perf_counter()
    assert call(sim, "GET", f"/sites/{site['id']}").status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_injected_drop_closes_without_an_answer(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.inject("drop", method="GET")
    with pytest.raises(requests.ConnectionError):
        call(sim, "GET", f"/sites/{site['id']}")
    assert sim.requests[-1].status == 0
    assert call(sim, "GET", f"/sites/{site['id']}").status_code == 200


def test_a_drop_after_handling_still_acts(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    hook = sim.add_build_hook(site["id"])
    sim.inject("drop", path_contains="/build_hooks/", after_handling=True)
    with pytest.raises(requests.ConnectionError):
        requests.post(hook["url"], timeout=5)
    assert len(sim.hook_calls) == 1 and sim.deploy_count(site["id"]) == 1


def test_inject_rejects_unknown_kinds_and_options(sim: NetlifySimulator) -> None:
    with pytest.raises(ValueError, match="fault kind"):
        sim.inject("404")
    with pytest.raises(ValueError, match="unknown fault options"):
        sim.inject("slow", second=3)


def test_request_log_records_method_path_and_status(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    call(sim, "GET", f"/sites/{site['id']}/deploys", params={"page": 2})
    assert sim.requests == [("GET", f"/api/v1/sites/{site['id']}/deploys?page=2", 200)]
    sim.reset_log()
    assert sim.requests == []


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_prints_settings_and_serves_until_interrupted() -> None:
    process = subprocess.Popen([sys.executable, "-m", "vibedash.netlify.simulator", "--port", "0", "--seed-demo",
                                "--token", "cli-token", "--quiet"], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        settings: dict[str, str] = {}
        while "VIBEDASH_BUILD_HOOK_URL" not in settings:
            line = process.stdout.readline()
            assert line, f"simulator exited early: {process.stderr.read()}"
            if "=" in line:
                name, _, value = line.strip().partition("=")
                settings[name] = value
        api = settings["VIBEDASH_NETLIFY_API_URL"]
        assert api.startswith("http://127.0.0.1:") and settings["NETLIFY_AUTH_TOKEN"] == "cli-token"
        headers = {"Authorization": "Bearer cli-token"}
        site = requests.get(f"{api}/sites/{settings['NETLIFY_SITE_ID']}", headers=headers, timeout=5).json()
        assert site["name"] == "vibethinker-demo" and site["published_deploy"]["state"] == "ready"
        assert requests.post(settings["VIBEDASH_BUILD_HOOK_URL"], timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()


def test_cli_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["--port", str(busy.getsockname()[1])]) == 2
    assert "pick another --port" in capsys.readouterr().err


def test_cli_main_accepts_a_custom_seed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seeded: list[str] = []

    def seed(sim: NetlifySimulator) -> dict[str, Any]:
        site = sim.create_site(name="from-registry", site_id="site-from-registry")
        sim.add_deploy(site["id"], deploy_id="registry-deploy-1", commit_ref="d" * 40,
                       created_at=datetime.now(UTC) - timedelta(days=1))
        seeded.append(site["id"])
        return site

    # Stop at once instead of serving forever: the part under test is what main prints before serving.
    monkeypatch.setattr(NetlifySimulator, "serve_until_interrupted", lambda self: self.stop())
    assert main(["--port", "0", "--seed-demo", "--quiet"], seed=seed) == 0
    out = capsys.readouterr().out
    assert seeded == ["site-from-registry"]
    assert "NETLIFY_SITE_ID=site-from-registry" in out and "/build_hooks/" in out


def test_the_demo_site_keeps_its_ids_across_restarts() -> None:
    snapshots = []
    for _ in range(2):
        with NetlifySimulator(token=TOKEN) as sim:
            demo = seed_demo(sim)
            deploys = call(sim, "GET", f"/sites/{demo['id']}/deploys").json()
            hooks = sim.build_hooks(demo["id"])
            snapshots.append((demo["id"], [d["id"] for d in deploys], [d["commit_ref"] for d in deploys],
                              [h["id"] for h in hooks]))
    assert snapshots[0] == snapshots[1]
    _, deploy_ids, _, hook_ids = snapshots[0]
    assert len(deploy_ids) == 8 and len(hook_ids) == 1


def test_only_loopback_counts_as_loopback() -> None:
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.5")


def test_faults_after_handling_act_first_then_fail(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    old = sim.add_deploy(site["id"], commit_ref="a" * 40)
    sim.add_deploy(site["id"], commit_ref="b" * 40)
    sim.inject("500", path_contains="/restore", after_handling=True)
    assert call(sim, "POST", f"/sites/{site['id']}/deploys/{old['id']}/restore").status_code == 500
    assert sim.published_deploy_id(site["id"]) == old["id"]   # it happened, though the answer says otherwise
    with pytest.raises(ValueError, match="after_handling"):
        sim.inject("429", after_handling=True)   # a 429 means nothing was done


def test_a_stale_fault_serves_the_previous_answer_once_armed(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    old = sim.add_deploy(site["id"], commit_ref="a" * 40)
    new = sim.add_deploy(site["id"], commit_ref="b" * 40)
    assert call(sim, "GET", f"/sites/{site['id']}").json()["published_deploy"]["id"] == new["id"]
    sim.inject("stale", path_contains=f"/sites/{site['id']}", method="GET", after_path="/restore")
    # Not armed yet: answered truly (and this answer becomes the one a stale read repeats).
    assert call(sim, "GET", f"/sites/{site['id']}").json()["published_deploy"]["id"] == new["id"]
    call(sim, "POST", f"/sites/{site['id']}/deploys/{old['id']}/restore")
    stale = call(sim, "GET", f"/sites/{site['id']}")
    assert stale.status_code == 200 and stale.json()["published_deploy"]["id"] == new["id"]   # the lie
    assert call(sim, "GET", f"/sites/{site['id']}").json()["published_deploy"]["id"] == old["id"]


def test_a_stale_fault_without_a_method_leaves_writes_alone(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    old = sim.add_deploy(site["id"], commit_ref="a" * 40)
    new = sim.add_deploy(site["id"], commit_ref="b" * 40)
    assert call(sim, "GET", f"/sites/{site['id']}").json()["published_deploy"]["id"] == new["id"]
    sim.inject("stale", path_contains=f"/sites/{site['id']}")
    # A write cannot be answered from a cache: it is served, and the fault waits for the next read.
    restored = call(sim, "POST", f"/sites/{site['id']}/deploys/{old['id']}/restore")
    assert restored.status_code in (200, 201) and sim.published_deploy_id(site["id"]) == old["id"]
    assert call(sim, "GET", f"/sites/{site['id']}").json()["published_deploy"]["id"] == new["id"]   # the lie
    assert call(sim, "GET", f"/sites/{site['id']}").json()["published_deploy"]["id"] == old["id"]
    assert sim.internal_errors == []


def test_a_transient_404_answers_once_for_something_that_exists(sim: NetlifySimulator,
                                                                site: dict[str, Any]) -> None:
    deploy = sim.add_deploy(site["id"], commit_ref="a" * 40)
    sim.inject("transient-404", path_contains=deploy["id"], method="GET")
    assert call(sim, "GET", f"/deploys/{deploy['id']}").status_code == 404
    assert call(sim, "GET", f"/deploys/{deploy['id']}").status_code == 200


def test_another_actor_can_act_just_before_or_after_a_request(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    first = sim.add_deploy(site["id"], commit_ref="a" * 40)
    second = sim.add_deploy(site["id"], commit_ref="b" * 40)
    sim.set_locked(site["id"])
    sim.inject("interleave", path_contains="/lock", action=lambda s: s.publish(site["id"], first["id"]))
    refused = call(sim, "POST", f"/deploys/{second['id']}/lock")
    assert refused.status_code == 422 and sim.published_deploy_id(site["id"]) == first["id"]
    sim.inject("interleave", path_contains="/unlock", after_handling=True,
               action=lambda s: s.publish(site["id"], second["id"]))
    assert call(sim, "POST", f"/deploys/{first['id']}/unlock").status_code == 200
    assert sim.published_deploy_id(site["id"]) == second["id"]
    with pytest.raises(ValueError, match="action"):
        sim.inject("interleave")
    with pytest.raises(ValueError, match="not a ready deploy"):
        sim.publish(site["id"], "no-such-deploy")
