"""NetlifyClient over real loopback HTTP against the simulator, plus a few exact-shape checks with `responses`."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from vibedash.netlify.client import (
    DEFAULT_API_URL,
    NetlifyAuthError,
    NetlifyClient,
    NetlifyError,
    NetlifyNotFound,
    NetlifyRateLimited,
    NetlifyRequestError,
    NetlifyUnavailable,
)
from vibedash.netlify.simulator import NetlifySimulator

TOKEN = "tok-3f9a-very-secret-value"


@pytest.fixture
def sim() -> Iterator[NetlifySimulator]:
    with NetlifySimulator(token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def site(sim: NetlifySimulator) -> dict[str, Any]:
    return sim.create_site(name="vibethinker")


@pytest.fixture
def client(sim: NetlifySimulator, site: dict[str, Any]) -> Iterator[NetlifyClient]:
    # Short timeouts and backoff keep the suite fast; behaviour is the same as with the defaults.
    with NetlifyClient(TOKEN, site["id"], api_url=sim.api_url, timeout=(1.0, 2.0), backoff_s=0.05,
                       max_wait_s=5.0) as netlify:
        yield netlify


def statuses(sim: NetlifySimulator, contains: str = "") -> list[int]:
    return [status for _, path, status in sim.requests if contains in path]


def assert_no_token(error: BaseException, client: NetlifyClient | None = None) -> None:
    texts = [str(error), repr(error), *map(str, error.args)]
    cause = error.__cause__
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__
    if client is not None:
        texts.append(repr(client))
    for text in texts:
        assert TOKEN not in text


# ----------------------------------------------------------------------------------------- every method


def test_get_site_includes_the_published_deploy(client: NetlifyClient, sim: NetlifySimulator,
                                                site: dict[str, Any]) -> None:
    deploy = sim.add_deploy(site["id"], commit_ref="a" * 40, title="v1")
    fetched = client.get_site()
    assert fetched["id"] == site["id"]
    assert fetched["published_deploy"]["id"] == deploy["id"]
    assert client.request_count == 1
    assert client.rate_limit is not None and client.rate_limit.limit == 500
    assert client.rate_limit.remaining == 499 and client.rate_limit.reset_at > datetime.now(UTC)


def test_get_deploy(client: NetlifyClient, sim: NetlifySimulator, site: dict[str, Any]) -> None:
    deploy = sim.add_deploy(site["id"], commit_ref="a" * 40, title="v1")
    assert client.get_deploy(deploy["id"]) == sim.deploy(deploy["id"])


def test_restore_lock_and_unlock_a_deploy(client: NetlifyClient, sim: NetlifySimulator,
                                          site: dict[str, Any]) -> None:
    old = sim.add_deploy(site["id"], commit_ref="a" * 40)
    sim.add_deploy(site["id"], commit_ref="b" * 40)
    restored = client.restore_deploy(old["id"])
    assert restored["id"] == old["id"]
    assert sim.published_deploy_id(site["id"]) == old["id"]

    assert client.lock_deploy(old["id"])["locked"] is True
    assert client.get_site()["published_deploy"]["locked"] is True
    newer = sim.add_deploy(site["id"], commit_ref="c" * 40)
    assert sim.published_deploy_id(site["id"]) == old["id"] and newer["published_at"] is None

    assert client.unlock_deploy(old["id"])["locked"] is False
    assert client.get_site()["published_deploy"]["locked"] is False
    assert statuses(sim) == [201, 200, 200, 200, 200]


def test_delete_deploy(client: NetlifyClient, sim: NetlifySimulator, site: dict[str, Any]) -> None:
    old = sim.add_deploy(site["id"], commit_ref="a" * 40)
    live = sim.add_deploy(site["id"], commit_ref="b" * 40)
    assert client.delete_deploy(old["id"]) is None
    assert sim.requests[-1] == ("DELETE", f"/api/v1/sites/{site['id']}/deploys/{old['id']}", 204)
    with pytest.raises(NetlifyNotFound, match="retention"):
        client.get_deploy(old["id"])
    with pytest.raises(NetlifyRequestError, match="is the published deploy") as refused:
        client.delete_deploy(live["id"])
    assert refused.value.status == 422


def test_delete_without_a_site_uses_the_deploy_route(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    old = sim.add_deploy(site["id"], commit_ref="a" * 40)
    sim.add_deploy(site["id"], commit_ref="b" * 40)
    with NetlifyClient(TOKEN, api_url=sim.api_url) as siteless:
        siteless.delete_deploy(old["id"])
    assert sim.requests[-1] == ("DELETE", f"/api/v1/deploys/{old['id']}", 204)


def test_a_delete_whose_answer_was_lost_still_counts_as_done(client: NetlifyClient, sim: NetlifySimulator,
                                                             site: dict[str, Any]) -> None:
    old = sim.add_deploy(site["id"], commit_ref="a" * 40)
    sim.add_deploy(site["id"], commit_ref="b" * 40)
    sim.inject("drop", method="DELETE", after_handling=True)
    client.delete_deploy(old["id"])
    assert statuses(sim) == [0, 404]
    assert sim.deploy_count(site["id"]) == 1


def test_list_and_trigger_build_hooks(client: NetlifyClient, sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.add_deploy(site["id"], commit_ref="a" * 40)
    hook = sim.add_build_hook(site["id"], title="ci", branch="main")
    assert client.list_build_hooks() == [hook]
    client.trigger_build_hook(hook["url"], title="run 7", branch="main", payload='{"run": 7}')
    [triggered] = sim.hook_calls
    assert (triggered.title, triggered.branch, triggered.payload) == ("run 7", "main", '{"run": 7}')
    assert sim.published_deploy_id(site["id"]) == triggered.deploy_id
    newest = next(client.list_site_deploys())
    assert newest["id"] == triggered.deploy_id and newest["title"] == "run 7"


def test_a_hook_can_be_triggered_without_any_token(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    hook = sim.add_build_hook(site["id"])
    with NetlifyClient("", api_url=sim.api_url) as anonymous:
        anonymous.trigger_build_hook(hook["url"])
        assert len(sim.hook_calls) == 1
        with pytest.raises(NetlifyAuthError, match="NETLIFY_AUTH_TOKEN"):
            anonymous.get_deploy("any")
    assert statuses(sim, "/api/") == []


# ---------------------------------------------------------------------------------------------- paging


def test_paging_fetches_every_deploy_newest_first_in_as_few_requests_as_possible(
        client: NetlifyClient, sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.seed(250, site["id"])
    progress: list[tuple[int, int]] = []
    deploys = list(client.list_site_deploys(on_page=lambda page, so_far: progress.append((page, so_far))))
    assert len({d["id"] for d in deploys}) == 250
    created = [d["created_at"] for d in deploys]
    assert created == sorted(created, reverse=True)
    assert progress == [(1, 100), (2, 200), (3, 250)]
    assert client.request_count == 3 and statuses(sim, "/deploys") == [200, 200, 200]


def test_a_full_last_page_needs_no_extra_request_when_links_say_so(
        client: NetlifyClient, sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.seed(200, site["id"])
    assert sum(1 for _ in client.list_site_deploys()) == 200
    assert client.request_count == 2


def test_listing_is_lazy_and_stops_when_the_caller_stops(client: NetlifyClient, sim: NetlifySimulator,
                                                         site: dict[str, Any]) -> None:
    sim.seed(5000, site["id"])
    iterator = client.list_site_deploys()
    assert client.request_count == 0
    first_150 = list(itertools.islice(iterator, 150))
    assert len(first_150) == 150 and client.request_count == 2
    assert [path.split("?")[1] for _, path, _ in sim.requests] == ["page=1&per_page=100", "page=2&per_page=100"]


def test_small_pages(client: NetlifyClient, sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.seed(7, site["id"])
    assert len(list(client.list_site_deploys(per_page=3))) == 7
    assert client.request_count == 3
    with pytest.raises(ValueError, match="between 1 and 100"):
        client.list_site_deploys(per_page=101)


def test_an_empty_site_lists_nothing_in_one_request(client: NetlifyClient) -> None:
    assert list(client.list_site_deploys()) == []
    assert client.request_count == 1


# ------------------------------------------------------------------------------------ retries and limits


def test_429_waits_until_the_rate_limit_resets_then_succeeds(client: NetlifyClient, sim: NetlifySimulator,
                                                             site: dict[str, Any]) -> None:
    sim.inject("429", reset_in=1, retry_after=None)
    started = time.monotonic()
    assert client.get_site()["id"] == site["id"]
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3.5
    assert statuses(sim) == [429, 200] and client.request_count == 2


def test_429_honours_retry_after(client: NetlifyClient, sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.inject("429", reset_in=0, retry_after=1)
    started = time.monotonic()
    client.get_site()
    assert time.monotonic() - started >= 0.95
    assert statuses(sim) == [429, 200]


def test_429_beyond_the_wait_budget_fails_at_once_saying_when(client: NetlifyClient, sim: NetlifySimulator) -> None:
    sim.inject("429", reset_in=120, retry_after=None)
    started = time.monotonic()
    with pytest.raises(NetlifyRateLimited, match=r"resets at \d\d:\d\d:\d\d UTC \(in 1[12]\d s\)") as caught:
        client.get_site()
    # Not a speed figure: sleeping any of the wait would take 20 s (the wait budget) or 120 s (the reset), so a
    # bound far below both says "did not sleep" without failing on a busy machine.
    assert time.monotonic() - started < 10
    assert caught.value.retry_at is not None
    assert 110 < (caught.value.retry_at - datetime.now(UTC)).total_seconds() <= 121
    assert statuses(sim) == [429]


def test_429_that_never_ends_gives_up_after_max_retries(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.inject("429", count=5, reset_in=0, retry_after=None)
    with NetlifyClient(TOKEN, site["id"], api_url=sim.api_url, max_retries=1, backoff_s=0.05) as impatient:
        with pytest.raises(NetlifyRateLimited, match="Try again"):
            impatient.get_site()
    assert statuses(sim) == [429, 429]


def test_500_then_success_is_retried(client: NetlifyClient, sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.inject("500")
    assert client.get_site()["id"] == site["id"]
    assert statuses(sim) == [500, 200]


def test_503_honours_retry_after(client: NetlifyClient, sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.inject("503", retry_after=1)
    started = time.monotonic()
    client.get_site()
    assert time.monotonic() - started >= 0.95
    assert statuses(sim) == [503, 200]


def test_persistent_5xx_becomes_unavailable_with_netlifys_message(client: NetlifyClient,
                                                                   sim: NetlifySimulator) -> None:
    sim.inject("500", count=10, message="database on fire")
    with pytest.raises(NetlifyUnavailable, match="500 Internal Server Error: database on fire") as caught:
        client.get_site()
    assert caught.value.status == 500
    assert statuses(sim) == [500] * 5 and client.request_count == 5


def test_a_dropped_connection_is_retried_for_reads(client: NetlifyClient, sim: NetlifySimulator,
                                                   site: dict[str, Any]) -> None:
    sim.inject("drop")
    assert client.get_site()["id"] == site["id"]
    assert statuses(sim) == [0, 200] and client.request_count == 2


def test_restore_is_retried_after_a_lost_answer(client: NetlifyClient, sim: NetlifySimulator,
                                                site: dict[str, Any]) -> None:
    old = sim.add_deploy(site["id"], commit_ref="a" * 40)
    sim.add_deploy(site["id"], commit_ref="b" * 40)
    sim.inject("drop", path_contains="/restore", after_handling=True)
    assert client.restore_deploy(old["id"])["id"] == old["id"]
    assert statuses(sim, "/restore") == [0, 201]
    assert sim.published_deploy_id(site["id"]) == old["id"]


def test_a_read_timeout_fails_quickly(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    # The answers would take 30 s (stopping the simulator wakes them), so a client that waited for one instead
    # of timing out after 0.2 s could not finish within the bound below, however busy the machine.
    sim.inject("slow", count=5, seconds=30.0)
    with NetlifyClient(TOKEN, site["id"], api_url=sim.api_url, timeout=(1.0, 0.2), backoff_s=0.05) as hasty:
        started = time.monotonic()
        with pytest.raises(NetlifyUnavailable, match=r"no answer within 0.2 s"):
            hasty.get_site()
        assert time.monotonic() - started < 10
        assert hasty.request_count == 2  # one retry of a read timeout, not four


def test_connection_refused_is_unavailable_and_sends_nothing() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]   # bound but not listening: connections are refused
        with NetlifyClient(TOKEN, "site", api_url=f"http://127.0.0.1:{port}/api/v1", max_retries=1,
                           backoff_s=0.01) as nowhere:
            with pytest.raises(NetlifyUnavailable, match="could not connect") as caught:
                nowhere.get_site()
            assert nowhere.request_count == 0
    assert "Nothing was sent" in str(caught.value)


# ---------------------------------------------------------------------- build hooks must not start twice


def test_a_hook_is_not_retried_when_the_answer_is_lost(client: NetlifyClient, sim: NetlifySimulator,
                                                       site: dict[str, Any]) -> None:
    hook = sim.add_build_hook(site["id"])
    sim.inject("drop", path_contains="/build_hooks/", after_handling=True)
    with pytest.raises(NetlifyUnavailable, match="may or may not have started") as caught:
        client.trigger_build_hook(hook["url"])
    assert statuses(sim, "/build_hooks/") == [0]
    assert len(sim.hook_calls) == 1 and sim.deploy_count(site["id"]) == 1
    assert hook["id"] not in str(caught.value) and caught.value.__cause__ is None


def test_a_hook_is_not_retried_after_a_read_timeout(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    hook = sim.add_build_hook(site["id"])
    sim.inject("slow", count=3, seconds=0.4, path_contains="/build_hooks/")
    with NetlifyClient(TOKEN, site["id"], api_url=sim.api_url, timeout=(1.0, 0.1), backoff_s=0.01) as hasty:
        with pytest.raises(NetlifyUnavailable, match="may or may not have started"):
            hasty.trigger_build_hook(hook["url"])
        assert hasty.request_count == 1
    deadline = time.monotonic() + 3
    while not sim.hook_calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sim.hook_calls) == 1  # the build did start: a retry would have started a second one


def test_a_hook_is_not_retried_after_a_server_error(client: NetlifyClient, sim: NetlifySimulator,
                                                    site: dict[str, Any]) -> None:
    hook = sim.add_build_hook(site["id"])
    sim.inject("500", path_contains="/build_hooks/")
    with pytest.raises(NetlifyUnavailable, match="check the deploy list"):
        client.trigger_build_hook(hook["url"])
    assert statuses(sim, "/build_hooks/") == [500]


def test_a_rate_limited_hook_is_retried(client: NetlifyClient, sim: NetlifySimulator, site: dict[str, Any]) -> None:
    hook = sim.add_build_hook(site["id"])
    sim.inject("429", path_contains="/build_hooks/", reset_in=0, retry_after=1)
    client.trigger_build_hook(hook["url"])
    assert statuses(sim, "/build_hooks/") == [429, 200]
    assert len(sim.hook_calls) == 1


def test_a_hook_is_retried_when_the_connection_was_refused() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        simulators: list[NetlifySimulator] = []

        def start_listening_soon() -> None:
            time.sleep(0.3)
            placeholder.close()
            simulators.append(NetlifySimulator(port=port, token=TOKEN).start())

        opener = threading.Thread(target=start_listening_soon)
        opener.start()
        # The hook does not exist yet, so it cannot be known in advance: any answer proves the retry reached
        # the server, and a 404 shows the refused attempts were retried rather than reported.
        with NetlifyClient("", api_url=f"http://127.0.0.1:{port}/api/v1", max_retries=8, backoff_s=0.1,
                           max_wait_s=10) as patient:
            with pytest.raises(NetlifyNotFound, match="VIBEDASH_BUILD_HOOK_URL"):
                patient.trigger_build_hook(f"http://127.0.0.1:{port}/build_hooks/hook-123")
            assert patient.request_count == 1
        opener.join()
    try:
        assert simulators[0].requests == [("POST", "/build_hooks/hook-123", 404)]
    finally:
        simulators[0].stop()


# ------------------------------------------------------------------------------------------- errors


def test_a_wrong_token_is_an_auth_error_that_never_shows_the_token(sim: NetlifySimulator,
                                                                    site: dict[str, Any]) -> None:
    wrong = "tok-3f9a-very-secret-but-wrong"
    with NetlifyClient(wrong, site["id"], api_url=sim.api_url) as bad:
        with pytest.raises(NetlifyAuthError, match="Access Denied") as caught:
            bad.get_site()
        assert "NETLIFY_AUTH_TOKEN" in str(caught.value) and caught.value.status == 401
        for text in (str(caught.value), repr(caught.value), repr(bad)):
            assert wrong not in text
    assert statuses(sim) == [401]  # auth errors are not retried


def test_the_token_appears_in_no_error_and_not_in_repr(client: NetlifyClient, sim: NetlifySimulator) -> None:
    assert TOKEN not in repr(client) and "token=set" in repr(client)
    sim.inject("500", count=10)
    for action in (client.get_site, lambda: client.get_deploy("missing")):
        with pytest.raises(NetlifyError) as caught:
            action()
        assert_no_token(caught.value, client)


def test_a_missing_site_is_404_pointing_at_the_site_id_setting(sim: NetlifySimulator) -> None:
    with NetlifyClient(TOKEN, "no-such-site", api_url=sim.api_url) as lost:
        with pytest.raises(NetlifyNotFound, match="NETLIFY_SITE_ID"):
            lost.get_site()
        with pytest.raises(NetlifyNotFound, match="site no-such-site"):
            list(lost.list_site_deploys())


def test_a_missing_deploy_suggests_retention(client: NetlifyClient) -> None:
    with pytest.raises(NetlifyNotFound, match="deleted by retention") as caught:
        client.restore_deploy("gone-deploy")
    assert caught.value.status == 404 and "gone-deploy" in str(caught.value)


def test_422_carries_netlifys_message(client: NetlifyClient, sim: NetlifySimulator, site: dict[str, Any]) -> None:
    sim.add_deploy(site["id"], commit_ref="a" * 40)
    failed = sim.add_deploy(site["id"], commit_ref="b" * 40, state="error", error_message="boom")
    with pytest.raises(NetlifyRequestError, match=r"422 Unprocessable Entity: Deploy \w+ is error") as caught:
        client.restore_deploy(failed["id"])
    assert caught.value.netlify_message.startswith(f"Deploy {failed['id']} is error")
    assert statuses(sim) == [422]


def test_no_site_id_is_a_clear_error_and_sends_nothing(sim: NetlifySimulator) -> None:
    with NetlifyClient(TOKEN, None, api_url=sim.api_url) as siteless:
        for action in (siteless.get_site, siteless.list_build_hooks, lambda: siteless.restore_deploy("d"),
                       lambda: siteless.list_site_deploys()):
            with pytest.raises(NetlifyError, match="No Netlify site id: set NETLIFY_SITE_ID"):
                action()
        assert siteless.request_count == 0


def test_bad_arguments_are_refused_before_any_request() -> None:
    with pytest.raises(ValueError, match="must look like"):
        NetlifyClient(TOKEN, api_url="api.netlify.com/api/v1")
    with pytest.raises(ValueError, match="timeout"):
        NetlifyClient(TOKEN, timeout=(0, 5))
    with NetlifyClient(TOKEN, "site") as netlify:
        with pytest.raises(ValueError, match="deploy id is needed"):
            netlify.get_deploy("  ")
        with pytest.raises(ValueError, match="build_hooks"):
            netlify.trigger_build_hook("not a url")
    assert NetlifyClient(TOKEN, api_url=DEFAULT_API_URL + "/").api_url == DEFAULT_API_URL


# ------------------------------------------------------------- exact request shapes (responses library)

API = "https://api.example.test/api/v1"


@responses.activate
def test_api_requests_carry_bearer_auth_and_a_user_agent() -> None:
    responses.post(f"{API}/sites/site-1/deploys/d%2F1/restore", status=201, json={"id": "d/1"},
                   match=[matchers.header_matcher({"Authorization": f"Bearer {TOKEN}",
                                                   "Accept": "application/json"})])
    with NetlifyClient(TOKEN, "site-1", api_url=API) as netlify:
        assert netlify.restore_deploy("d/1") == {"id": "d/1"}   # ids are quoted into one path segment
    sent = responses.calls[0].request
    assert sent.headers["User-Agent"].startswith("vibedash/")
    assert not sent.body


@responses.activate
def test_a_hook_request_has_its_query_and_body_and_no_authorization() -> None:
    hook_url = "https://api.example.test/build_hooks/5c23354f454e1350f8543e78"
    responses.post(hook_url, status=200, body="",
                   match=[matchers.query_param_matcher({"trigger_title": "run 9", "trigger_branch": "main"})])
    with NetlifyClient(TOKEN, api_url=API) as netlify:
        netlify.trigger_build_hook(hook_url, title="run 9", branch="main", payload='{"sha": "abc"}')
    sent = responses.calls[0].request
    assert "Authorization" not in sent.headers
    assert sent.body == b'{"sha": "abc"}'
    assert sent.headers["Content-Type"].startswith("text/plain")


@responses.activate
def test_without_link_headers_paging_stops_at_a_short_page() -> None:
    url = f"{API}/sites/site-1/deploys"
    for page, count in ((1, 100), (2, 100), (3, 20)):
        responses.get(url, json=[{"id": f"{page}-{i}"} for i in range(count)],
                      match=[matchers.query_param_matcher({"page": str(page), "per_page": "100"})])
    with NetlifyClient(TOKEN, "site-1", api_url=API) as netlify:
        assert len(list(netlify.list_site_deploys())) == 220
        assert netlify.request_count == 3


@responses.activate
def test_a_next_link_to_another_host_is_not_followed_with_the_token() -> None:
    url = f"{API}/sites/site-1/deploys"
    responses.get(url, json=[{"id": "a"}], headers={"Link": '<https://evil.example/steal?page=2>; rel="next"'},
                  match=[matchers.query_param_matcher({"page": "1", "per_page": "1"})])
    responses.get(url, json=[], match=[matchers.query_param_matcher({"page": "2", "per_page": "1"})])
    with NetlifyClient(TOKEN, "site-1", api_url=API) as netlify:
        assert [d["id"] for d in netlify.list_site_deploys(per_page=1)] == ["a"]
    assert all(call.request.url.startswith(API) for call in responses.calls)


@responses.activate
def test_an_answer_that_is_not_json_points_at_the_api_url_setting() -> None:
    responses.get(f"{API}/sites/site-1", body="<html>login</html>", content_type="text/html")
    with NetlifyClient(TOKEN, "site-1", api_url=API) as netlify:
        with pytest.raises(NetlifyError, match="VIBEDASH_NETLIFY_API_URL"):
            netlify.get_site()


@responses.activate
def test_a_redirect_is_reported_not_followed() -> None:
    responses.get(f"{API}/sites/site-1", status=301, headers={"Location": "https://elsewhere.test/api/v1/sites"})
    with NetlifyClient(TOKEN, "site-1", api_url=API) as netlify:
        with pytest.raises(NetlifyRequestError, match=r"redirect \(301\) to https://elsewhere\.test"):
            netlify.get_site()
    assert len(responses.calls) == 1


@responses.activate
def test_a_403_is_an_auth_error() -> None:
    responses.get(f"{API}/sites/site-1", status=403, json={"code": 403, "message": "Forbidden: not your site"})
    with NetlifyClient(TOKEN, "site-1", api_url=API) as netlify:
        with pytest.raises(NetlifyAuthError, match="not your site"):
            netlify.get_site()


def test_a_publish_is_not_sent_again_after_a_read_timeout(sim: NetlifySimulator, site: dict[str, Any]) -> None:
    # The first request may still land late; a second one landing after a later lock could clear that lock.
    old = sim.add_deploy(site["id"], commit_ref="a" * 40)
    sim.add_deploy(site["id"], commit_ref="b" * 40)
    sim.inject("slow", count=5, seconds=0.5, path_contains="/restore")
    with NetlifyClient(TOKEN, site["id"], api_url=sim.api_url, timeout=(1.0, 0.2), backoff_s=0.01) as hasty:
        with pytest.raises(NetlifyUnavailable, match="no answer"):
            hasty.restore_deploy(old["id"])
        assert hasty.request_count == 1
    sim.inject("500", count=1, path_contains="/restore")   # an answered 5xx is still retried
    assert client_for(sim, site).restore_deploy(old["id"])["id"] == old["id"]


def client_for(sim: NetlifySimulator, site: dict[str, Any]) -> NetlifyClient:
    return NetlifyClient(TOKEN, site["id"], api_url=sim.api_url, timeout=(1.0, 2.0), backoff_s=0.01)


def test_a_token_with_whitespace_inside_is_refused_without_quoting_it() -> None:
    from vibedash.netlify.client import InvalidToken

    for bad in ("nfp_abc\ndef", "nfp_abc def", "nfp_abc\x00def", "nfp_abcé"):
        with pytest.raises(InvalidToken) as caught:
            NetlifyClient(bad, "site")
        assert "abc" not in str(caught.value) and "def" not in str(caught.value)
    assert NetlifyClient("  nfp_pasted_with_newline\n", "site").has_token   # surrounding whitespace is forgiven
