"""Benchmark `steptts serve` under concurrent clients (a benchmark, not a test).

Starts a real server process on loopback, then for each client count (default 1, 4, 16, 64) runs
that many threads, each sending ``--requests`` streamed speech requests one after another, and
prints per level: p50 and p95 time to first byte and to the last byte, aggregate audio seconds
served per wall second (from the server's own /metrics), responses by status, and the server's
peak resident memory (VmHWM, since start).

    PYTHONPATH=$PWD python bench/bench_server.py --clients 1,4,16,64 --requests 2
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from server_helpers import ServerProcess

TEXT = "The quick brown fox jumps over the lazy dog. A second sentence follows the first one here."


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (0–1) of ``values`` by linear interpolation; NaN when empty."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def audio_seconds(url: str) -> float:
    """The server's steptts_audio_seconds_total."""
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith("steptts_audio_seconds_total"):
            return float(line.split()[1])
    raise RuntimeError("no steptts_audio_seconds_total in /metrics")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_request(client: httpx.Client, url: str, response_format: str) -> tuple[int, float | None, float]:
    """(status, seconds to first body byte or None, seconds to last byte) of one streamed request."""
    started = time.perf_counter()
    first = None
    with client.stream("POST", f"{url}/v1/audio/speech", json={
            "model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": response_format,
            "stream_format": "audio"}) as response:
        for piece in response.iter_bytes():
            if first is None and piece:
                first = time.perf_counter() - started
    return response.status_code, first, time.perf_counter() - started


def run_level(url: str, clients: int, requests: int, response_format: str) -> dict:
    """Run one client count; returns its figures."""
    barrier = threading.Barrier(clients)
    before = audio_seconds(url)

    def client_loop(_: int) -> list[tuple[int, float | None, float]]:
        with httpx.Client(timeout=300) as client:
            barrier.wait()
            return [one_request(client, url, response_format) for _ in range(requests)]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for batch in pool.map(client_loop, range(clients)) for r in batch]
    wall_s = time.perf_counter() - started
    ok = [r for r in results if r[0] == 200]
    return {
        "clients": clients, "requests": len(results), "wall_s": wall_s,
        "ttfb_p50_ms": percentile([r[1] for r in ok if r[1] is not None], 0.50) * 1000,
        "ttfb_p95_ms": percentile([r[1] for r in ok if r[1] is not None], 0.95) * 1000,
        "last_p50_ms": percentile([r[2] for r in ok], 0.50) * 1000,
        "last_p95_ms": percentile([r[2] for r in ok], 0.95) * 1000,
        "audio_s_per_s": (audio_seconds(url) - before) / wall_s,
        "statuses": dict(sorted(collections.Counter(r[0] for r in results).items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,4,16,64", help="comma-separated client counts")
    parser.add_argument("--requests", type=int, default=2, help="requests per client, one after another")
    parser.add_argument("--max-concurrency", type=int, default=2, help="the server's worker count")
    parser.add_argument("--queue", type=int, default=64, help="the server's queue length")
    parser.add_argument("--format", default="mp3", help="response_format")
    args = parser.parse_args()
    server = ServerProcess("--max-concurrency", str(args.max_concurrency), "--queue", str(args.queue))
    try:
        with httpx.Client(timeout=300) as client:  # the first run of a graph pays for its warm-up
            one_request(client, server.url, args.format)
        print(f"steptts serve --max-concurrency {args.max_concurrency} --queue {args.queue}; {args.requests} "
              f"streamed {args.format} requests per client; text of {len(TEXT)} characters (2 sentences)")
        print(f"{'clients':>7} {'reqs':>5} {'TTFB p50':>9} {'TTFB p95':>9} {'last p50':>9} {'last p95':>9} "
              f"{'audio s/s':>9} {'peak RSS':>9}  statuses")
        for clients in (int(c) for c in args.clients.split(",")):
            row = run_level(server.url, clients, args.requests, args.format)
            print(f"{row['clients']:>7} {row['requests']:>5} {row['ttfb_p50_ms']:>7.0f}ms {row['ttfb_p95_ms']:>7.0f}ms "
                  f"{row['last_p50_ms']:>7.0f}ms {row['last_p95_ms']:>7.0f}ms {row['audio_s_per_s']:>9.1f} "
                  f"{peak_rss_mb(server.process.pid):>7.0f}MB  {row['statuses']}", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
