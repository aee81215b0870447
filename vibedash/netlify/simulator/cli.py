"""``python -m vibedash netlify-sim``: serve the simulator from a terminal, optionally with demo data."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from vibedash.netlify.simulator.records import stable_id
from vibedash.netlify.simulator.server import NetlifySimulator


def seed_demo(sim: NetlifySimulator) -> dict[str, Any]:
    """A small, plausible site: a week of model versions, one failed build, one preview, and a build hook."""
    site = sim.create_site(name="vibethinker-demo", repo_url="https://github.com/example/vibethinker")
    start = datetime.now(UTC) - timedelta(days=7)
    versions = ["sft-base", "sft-math-mix", "rl-step-200", "rl-step-400", "rl-step-600", "rl-step-800"]
    # Stable ids, so a registry synced against one run of the demo still matches after a restart.
    for day, name in enumerate(versions):
        sim.add_deploy(site["id"], deploy_id=stable_id("deploy", name), commit_ref=stable_id(name, length=40),
                       title=f"Publish {name}", created_at=start + timedelta(days=day))
    sim.add_deploy(site["id"], deploy_id=stable_id("deploy", "rl-step-1000"),
                   commit_ref=stable_id("rl-step-1000", length=40), title="Publish rl-step-1000", state="error",
                   error_message="Build script returned non-zero exit code: 2",
                   created_at=start + timedelta(days=6, hours=3))
    sim.add_deploy(site["id"], deploy_id=stable_id("deploy", "long-context"),
                   commit_ref=stable_id("long-context", length=40), branch="long-context",
                   context="deploy-preview", review_id=42, title="Preview: long-context",
                   created_at=start + timedelta(days=6, hours=5))
    sim.add_build_hook(site["id"], title="vibedash", branch="main", hook_id=stable_id("hook", site["id"]))
    return sim.site(site["id"])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vibedash netlify-sim",
        description="Serve a local Netlify API simulator (loopback only unless --host is given).")
    parser.add_argument("--port", type=int, default=8999, help="port to listen on (0 picks a free one)")
    parser.add_argument("--host", default=None,
                        help="address to bind (default 127.0.0.1); anything but loopback exposes the simulator")
    parser.add_argument("--token", default="test-token", help="bearer token the simulator accepts")
    parser.add_argument("--seed-demo", action="store_true", help="start with a demo site full of deploys")
    parser.add_argument("--build-seconds", type=float, default=0.0,
                        help="how long a hook-triggered build stays 'building' (default 0: ready at once)")
    parser.add_argument("--quiet", action="store_true", help="do not print one line per request")
    return parser


def main(argv: list[str] | None = None, *,
         seed: Callable[[NetlifySimulator], dict[str, Any]] | None = None) -> int:
    """Run the simulator until Ctrl-C. ``seed`` replaces the built-in demo data for ``--seed-demo``."""
    args = build_parser().parse_args(argv)
    host = args.host or "127.0.0.1"
    if not _is_loopback(host):
        print(f"warning: binding {host} makes the simulator (and its token) reachable from other machines",
              file=sys.stderr)
    echo = None if args.quiet else (lambda line: print(line, flush=True))
    try:
        sim = NetlifySimulator(port=args.port, token=args.token, host=host, build_seconds=args.build_seconds,
                               echo=echo)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{args.port} ({exc.strerror or exc}); pick another --port",
              file=sys.stderr)
        return 2
    if args.seed_demo:
        site = (seed or seed_demo)(sim)
    else:
        site = sim.create_site(name="vibedash-sim")
    hooks = sim.build_hooks(site["id"]) or [
        sim.add_build_hook(site["id"], title="vibedash", hook_id=stable_id("hook", site["id"]))]
    print(f"Netlify simulator serving {sim.api_url} (Ctrl-C to stop). Use these settings:")
    print(f"  NETLIFY_AUTH_TOKEN={sim.token}")
    print(f"  NETLIFY_SITE_ID={site['id']}")
    print(f"  VIBEDASH_NETLIFY_API_URL={sim.api_url}")
    print(f"  VIBEDASH_BUILD_HOOK_URL={hooks[0]['url']}", flush=True)
    sim.serve_until_interrupted()
    print("stopped")
    return 0
