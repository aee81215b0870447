"""A Netlify API simulator: a real HTTP server on loopback that follows Netlify's official spec.

It serves the operations the dashboard uses, with the spec's paths, status codes and object shapes
(tests/fixtures/netlify-openapi.yml), plus what the spec leaves out but Netlify does: bearer auth, paging with
``Link`` headers, ``X-RateLimit-*`` headers and a 500-requests-a-minute limit, token-less build hooks, auto
publishing of new production deploys unless the live deploy is locked. Faults can be injected for the next
matching requests: 429, 500, 503, slow answers and dropped connections, before or after the request is acted
on (an answer lost on the way back), a transient 404, a stale read-back (a cached earlier answer, as a lagging
replica or cache would give), and another actor changing the site just before or after a request.

Use it in tests and demos::

    with NetlifySimulator(token="test-token") as sim:
        site = sim.create_site(name="vibethinker")
        sim.add_deploy(site["id"], commit_ref="abc123", title="v1")
        client = NetlifyClient("test-token", site["id"], api_url=sim.api_url)

or from a terminal: ``python -m vibedash netlify-sim --seed-demo``.

Behaviour the public sources leave open is decided here and written down where it is decided (search for
"Simulator choice"); the client code must not depend on those choices.

The package, from the bottom up: ``records`` (constants, records, ids), ``api_answers`` (routes, replies, paging),
``state`` (the in-memory Netlify and its rules, seeding), ``api`` (auth, rate limit, one handler per route),
``faults`` (what can be injected), ``http_front`` (the HTTP server), ``server`` (NetlifySimulator: all of it on
loopback, with the request log and faults) and ``cli`` (the terminal command and its demo data).
"""

from vibedash.netlify.simulator.api_answers import API_ROUTES
from vibedash.netlify.simulator.cli import _is_loopback, build_parser, main, seed_demo
from vibedash.netlify.simulator.faults import FAULT_KINDS
from vibedash.netlify.simulator.records import (
    API_PREFIX,
    CONTEXTS,
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    DEPLOY_STATES,
    HOOK_PREFIX,
    MAX_PER_PAGE,
    HookCall,
    LoggedRequest,
)
from vibedash.netlify.simulator.server import NetlifySimulator

__all__ = ["API_PREFIX", "API_ROUTES", "CONTEXTS", "DEFAULT_RATE_LIMIT_PER_MINUTE", "DEPLOY_STATES", "FAULT_KINDS",
           "HOOK_PREFIX", "MAX_PER_PAGE", "HookCall", "LoggedRequest", "NetlifySimulator", "_is_loopback",
           "build_parser", "main", "seed_demo"]
