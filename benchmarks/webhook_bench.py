"""Time the webhook endpoint of the real daemon while its engine watches 500 repos.

    python benchmarks/webhook_bench.py [--repos 500] [--requests 5000] [--connections 16]
                                       [--runs 3] [--fetch on|off]

Starts `gitwatch-tui daemon` (a real process, its JSON log to a file) over the corpus's clones
(`benchmarks/.corpus/n500`, built with make_corpus.py when missing), with file watching,
history and the default 5-minute polls, a GitHub secret, and a rate limit raised out of the way.
A client in another process fires correctly signed GitHub push deliveries, each with its own
delivery id, for repos of the corpus (round robin, every clone's own origin URL), over N
keep-alive connections, and reports requests/s and latency percentiles. Only 127.0.0.1 is used.

`--fetch on` (default): each push starts a real fetch of its repo, coalesced per repo by the
server, so git runs on the same two cores as the server. `--fetch off`: the pushes name a branch
the clones do not follow, so the same path (signature, JSON, replay check, repo lookup) runs
without starting git; this isolates the endpoint's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / ".corpus"
SECRET = "webhook-bench-secret"


def ensure_corpus(n: int) -> Path:
    corpus = CORPUS_DIR / f"n{n}"
    if not (corpus / "manifest.json").exists():
        print(f"building {corpus} ...", file=sys.stderr, flush=True)
        make = [sys.executable, str(HERE / "make_corpus.py"), str(corpus), "--repos", str(n)]
        subprocess.run(make, check=True, stdout=sys.stderr)
    return corpus


def push_payload(url: str, name: str, ref: str, i: int) -> dict[str, Any]:
    """A GitHub push delivery of the usual shape and size (one commit, ~3 KB)."""
    user = {"name": "dev", "email": "dev@example.invalid", "username": "dev"}
    commit = {
        "id": f"{i:040x}", "tree_id": f"{i + 1:040x}", "distinct": True,
        "message": "Fix the thing\n\nLonger explanation of the thing that was fixed.",
        "timestamp": "2026-01-01T00:00:00Z", "url": f"https://forge.example/o/{name}/c/{i}",
        "author": user, "committer": user,
        "added": [], "removed": [], "modified": ["src/app.py", "README.md"],
    }  # fmt: skip
    return {
        "ref": ref, "before": f"{i + 2:040x}", "after": f"{i:040x}",
        "created": False, "deleted": False, "forced": False, "base_ref": None,
        "compare": f"https://forge.example/o/{name}/compare/a...b",
        "commits": [commit], "head_commit": commit,
        "repository": {
            "id": i, "name": name, "full_name": f"o/{name}", "private": True,
            "owner": {"login": "o", "id": 1, "type": "Organization"},
            "html_url": f"https://forge.example/o/{name}", "description": "bench repo",
            "clone_url": url, "ssh_url": f"git@forge.example:o/{name}.git",
            "git_url": f"git://forge.example/o/{name}.git", "default_branch": "main",
            "pushed_at": 1767225600, "size": 123, "stargazers_count": 0,
        },
        "pusher": {"name": "dev", "email": "dev@example.invalid"},
        "sender": {"login": "dev", "id": 2, "type": "User", "site_admin": False},
    }  # fmt: skip


# -- the client (its own process, so it does not share the server's event loop) ---------------


async def client(url: str, deliveries: list[tuple[bytes, dict[str, str]]], connections: int,
                 warm_up: int, rate: float) -> dict[str, Any]:  # fmt: skip
    """Closed loop (rate 0: each connection sends as soon as it has its answer), or open loop
    at `rate` requests/s, where latency counts from when a request was due (so a server that
    falls behind shows it, instead of slowing the client down)."""
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    answers: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(items: Any, record: bool) -> None:
            for i, (body, headers) in items:  # one iterator shared by every worker
                started = time.perf_counter()
                if record and rate:
                    due = t0 + i / rate
                    if due > started:
                        await asyncio.sleep(due - started)
                    started = due
                async with session.post(url, data=body, headers=headers) as response:
                    answer = await response.json()
                elapsed = time.perf_counter() - started
                if record:
                    latencies.append(elapsed)
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    answers[answer["status"]] = answers.get(answer["status"], 0) + 1

        # Warm-up (opens the connections; not counted), then the timed run.
        warm = iter(enumerate(deliveries[:warm_up]))
        await asyncio.gather(*(worker(warm, False) for _ in range(connections)))
        timed = iter(enumerate(deliveries[warm_up:]))
        t0 = started = time.perf_counter()
        await asyncio.gather(*(worker(timed, True) for _ in range(connections)))
        wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies), "wall": wall, "rps": len(latencies) / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p90_ms": 1000 * latencies[int(len(latencies) * 0.90)],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "max_ms": 1000 * latencies[-1], "statuses": statuses, "answers": answers,
    }  # fmt: skip


def client_main(spec_file: str) -> None:
    spec = json.loads(Path(spec_file).read_text())
    deliveries = [(body.encode(), headers) for body, headers in spec["deliveries"]]
    result = asyncio.run(
        client(spec["url"], deliveries, spec["connections"], spec["warm_up"], spec["rate"])
    )
    print(json.dumps(result))


# -- the daemon and the runs --------------------------------------------------------------------


def cpu_of(pid: int) -> tuple[float, float]:
    """User + system seconds of `pid` itself, and of its reaped children (git), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def fetches_done(base: str) -> float:
    """Fetches the engine has finished so far (from its own /metrics)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(base + "/metrics", timeout=30).read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gitwatch_sync_actions_total" and sample.labels["action"] == "fetch"
    )


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def deliveries_for(
    clones: list[Path], count: int, ref: str, run: int
) -> list[tuple[str, dict[str, str]]]:
    out = []
    urls = {}
    for clone in clones:
        urls[clone.name] = subprocess.run(
            ["git", "-C", str(clone), "config", "remote.origin.url"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    for i in range(count):
        name = clones[i % len(clones)].name
        body = json.dumps(push_payload(urls[name], name, ref, i)).encode()
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/bench",
            "X-GitHub-Event": "push", "X-GitHub-Delivery": f"bench-{run}-{i}",
            "X-GitHub-Hook-ID": "1", "X-Hub-Signature-256": f"sha256={signature}",
        }  # fmt: skip
        out.append((body.decode(), headers))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=500)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warm-up", type=int, default=200)
    parser.add_argument("--fetch", choices=("on", "off"), default="on")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests/s, open loop (default: as fast as it goes)",
    )
    parser.add_argument("--client", help=argparse.SUPPRESS)  # internal: run the client
    args = parser.parse_args()
    if args.client:
        client_main(args.client)
        return 0
    corpus = ensure_corpus(args.repos)
    clones = sorted((corpus / "work").iterdir())
    with tempfile.TemporaryDirectory(prefix="gitwatch-webhook-bench-") as tmp:
        tmp_path = Path(tmp)
        config = tmp_path / "config.yaml"
        lines = ["repos:"] + [f"  - path: '{clone}'" for clone in clones]
        lines += ["server:", "  listen: '127.0.0.1:0'", "  rate: {requests: 1000000, per: 1s}",
                  "  github: {secret_env: BENCH_GITHUB_SECRET}"]  # fmt: skip
        config.write_text("\n".join(lines) + "\n")
        log_path = tmp_path / "daemon.log"
        env = {**os.environ, "BENCH_GITHUB_SECRET": SECRET, "GITWATCH_TUI_CONFIG": "",
               "XDG_STATE_HOME": str(tmp_path / "state")}  # fmt: skip
        with log_path.open("w") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "gitwatch_tui", "daemon", "--config", str(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=env,
                cwd=HERE.parent,
            )  # fmt: skip
        try:
            return run(args, daemon, log_path, clones, tmp_path)
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(60)


def run(
    args: argparse.Namespace,
    daemon: subprocess.Popen[bytes],
    log_path: Path,
    clones: list[Path],
    tmp_path: Path,
) -> int:
    deadline = time.monotonic() + 120
    base = None
    while base is None:
        if daemon.poll() is not None or time.monotonic() > deadline:
            print(log_path.read_text()[-2000:], file=sys.stderr)
            raise SystemExit("the daemon did not start")
        for line in log_path.read_text().splitlines():
            record = json.loads(line)
            if record["event"] == "daemon-started":
                base = record["listen"]
        time.sleep(0.1)
    # Wait for the first status sweep, so the runs measure a daemon in its steady state.
    while any(r["state"] == "unknown" for r in get_json(base + "/api/repos")):
        time.sleep(0.2)
    ref = "refs/heads/main" if args.fetch == "on" else "refs/heads/bench-nobody-follows"
    print(
        f"daemon pid {daemon.pid} at {base}, {len(clones)} repos; {args.requests} signed "
        f"GitHub pushes per run, {args.connections} connections, fetch {args.fetch}, "
        + (f"open loop at {args.rate:g} req/s" if args.rate else "closed loop"),
        flush=True,
    )
    results = []
    for run_no in range(args.runs):
        spec = tmp_path / f"spec-{run_no}.json"
        spec.write_text(json.dumps({
            "url": base + "/hooks/github", "connections": args.connections,
            "warm_up": args.warm_up, "rate": args.rate,
            "deliveries": deliveries_for(clones, args.requests + args.warm_up, ref, run_no),
        }))  # fmt: skip
        cpu_before, fetches_before = cpu_of(daemon.pid), fetches_done(base)
        out = subprocess.run(
            [sys.executable, __file__, "--client", str(spec)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        result = json.loads(out.stdout)
        cpu_after = cpu_of(daemon.pid)
        result["daemon_cpu"] = cpu_after[0] - cpu_before[0]
        result["git_cpu"] = cpu_after[1] - cpu_before[1]
        results.append(result)
        print(
            f"run {run_no + 1}: {result['requests']} requests in {result['wall']:.2f} s = "
            f"{result['rps']:.0f} req/s; latency p50 {result['p50_ms']:.1f} ms, p90 "
            f"{result['p90_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, max "
            f"{result['max_ms']:.1f} ms; HTTP {result['statuses']}, {result['answers']}; "
            f"CPU: daemon {result['daemon_cpu']:.1f} s, its git {result['git_cpu']:.1f} s",
            flush=True,
        )
        drained = time.monotonic()
        fetched, last = fetches_done(base), -1.0
        while fetched != last:  # a fetch waiting for a network slot shows as idle: look twice
            time.sleep(0.5)
            last, fetched = fetched, fetches_done(base)
        fetched -= fetches_before
        result["fetches"] = fetched
        print(
            f"  then {fetched:.0f} fetches had run when the last one ended, "
            f"{time.monotonic() - drained - 0.5:.1f} s after the last answer",
            flush=True,
        )
    rps = statistics.median(r["rps"] for r in results)
    p50 = statistics.median(r["p50_ms"] for r in results)
    p99 = statistics.median(r["p99_ms"] for r in results)
    ok = rps >= 500 and p99 < 50
    print(f"median of {len(results)} runs: {rps:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          f"(target >= 500 req/s, p99 < 50 ms: {'PASS' if ok else 'FAIL'})")  # fmt: skip
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(60)
    print(f"daemon stopped with exit status {code}; log: {len(log_path.read_text().splitlines())} "
          "lines")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
