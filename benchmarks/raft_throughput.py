"""Throughput and latency of splitbrain's Raft KV against a 3-node etcd, on loopback.

Starts 3 ``splitbrain.raft`` nodes, runs 32 concurrent keep-alive HTTP clients doing
writes for ``--seconds``, then reads for ``--seconds``; prints ops/s and p50/p99
latency. Then does the same against 3 etcd processes (``/usr/bin/etcd``, v3 JSON
gateway) and prints our/etcd ratios. Clients are spread round-robin over the nodes
of each cluster; both systems get the identical asyncio load generator.

    python3 benchmarks/raft_throughput.py [--seconds 30] [--clients 32] [--skip-etcd]
        [--rounds N]   # alternate raft and etcd N times, print the medians
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

EXTRA: list[str] = []
SRC = Path(__file__).resolve().parent.parent / "src"


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Conn:
    """One keep-alive HTTP/1.1 connection (a benchmark client)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict) -> tuple[int, bytes]:
        if self.w is None:
            self.r, self.w = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode()
        self.w.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: "
                     f"application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        head = await self.r.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        n = 0
        for ln in lines[1:]:
            if ln.lower().startswith("content-length:"):
                n = int(ln.split(":", 1)[1])
        return int(lines[0].split(" ")[1]), await self.r.readexactly(n)


async def run_phase(urls: list[tuple[str, int]], make_req, seconds: float,
                    clients: int) -> tuple[int, int, list[float]]:
    lat: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def worker(i: int) -> None:
        nonlocal errors
        host, port = urls[i % len(urls)]
        conn = Conn(host, port)
        seq = 0
        while time.monotonic() < stop:
            seq += 1
            path, body = make_req(i, seq)
            t0 = time.monotonic()
            try:
                status, _ = await asyncio.wait_for(conn.post(path, body), 10)
                ok = status == 200
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                ok = False
                conn = Conn(host, port)
            if ok:
                lat.append(time.monotonic() - t0)
            else:
                errors += 1

    await asyncio.gather(*(worker(i) for i in range(clients)))
    return len(lat), errors, lat


def summarize(name: str, n: int, errors: int, lat: list[float], seconds: float) -> dict:
    lat = sorted(lat)
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0)
    res = {"ops_s": n / seconds, "p50_ms": p(0.50), "p99_ms": p(0.99), "errors": errors}
    print(f"  {name:6s} {res['ops_s']:9.0f} ops/s  p50 {res['p50_ms']:6.1f} ms  "
          f"p99 {res['p99_ms']:6.1f} ms  errors {errors}", flush=True)
    return res


def wait_http(url: str, timeout: float = 30, data: bytes | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, data=data, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"error: {url} did not answer within {timeout}s")


def start_raft(tmp: Path, base: int) -> tuple[list[subprocess.Popen], list[tuple[str, int]]]:
    nodes = []
    for i in range(1, 4):
        h = f"127.0.{base}.{i}"
        nodes.append((f"n{i}", h, free_port(h), free_port(h)))
    peers = ",".join(f"{n}={h}:{r}:{c}" for n, h, r, c in nodes)
    procs = []
    env = dict(os.environ, PYTHONPATH=str(SRC))
    for n, _h, _r, c in nodes:
        log = open(tmp / f"{n}.log", "wb")  # noqa: SIM115
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "splitbrain.raft", "--id", n, "--peers", peers,
             "--client-port", str(c), "--data-dir", str(tmp / n), "--log-level", "INFO", *EXTRA],
            env=env, stdout=log, stderr=log))
    urls = [(h, c) for _n, h, _r, c in nodes]
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://{urls[0][0]}:{urls[0][1]}/status",
                                        timeout=2) as r:
                if json.loads(r.read())["leader"]:
                    break
        except OSError:
            pass
        time.sleep(0.2)
    return procs, urls


def start_etcd(tmp: Path, base: int) -> tuple[list[subprocess.Popen], list[tuple[str, int]]]:
    if not shutil.which("etcd"):
        raise SystemExit("error: etcd not found; apt-get install etcd-server, or --skip-etcd")
    nodes = []
    for i in range(1, 4):
        h = f"127.0.{base}.{i}"
        nodes.append((f"e{i}", h, free_port(h), free_port(h)))
    cluster = ",".join(f"{n}=http://{h}:{p}" for n, h, p, _c in nodes)
    procs = []
    for n, h, p, c in nodes:
        log = open(tmp / f"{n}.log", "wb")  # noqa: SIM115
        procs.append(subprocess.Popen(
            ["etcd", "--name", n, "--data-dir", str(tmp / n),
             "--listen-peer-urls", f"http://{h}:{p}",
             "--initial-advertise-peer-urls", f"http://{h}:{p}",
             "--listen-client-urls", f"http://{h}:{c}",
             "--advertise-client-urls", f"http://{h}:{c}",
             "--initial-cluster", cluster, "--initial-cluster-state", "new",
             "--initial-cluster-token", f"bench-{base}", "--log-level", "error"],
            stdout=log, stderr=log))
    urls = [(h, c) for _n, h, _p, c in nodes]
    for h, c in urls:
        wait_http(f"http://{h}:{c}/v3/kv/range", data=b'{"key":"eA=="}')
    return procs, urls


def _post(url: str, body: bytes | None = None) -> dict:
    with urllib.request.urlopen(url, data=body, timeout=5) as r:
        return json.loads(r.read())


def raft_is_leader(u: tuple[str, int]) -> bool:
    return _post(f"http://{u[0]}:{u[1]}/status")["role"] == "leader"


def etcd_is_leader(u: tuple[str, int]) -> bool:
    st = _post(f"http://{u[0]}:{u[1]}/v3/maintenance/status", b"{}")
    return st["header"]["member_id"] == st["leader"]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def bench(name: str, urls, write_req, read_req, seconds: float, clients: int) -> dict:
    print(f"{name}: {clients} clients on {len(urls)} node(s), {seconds:g}s writes then "
          f"{seconds:g}s reads", flush=True)
    n, e, lat = asyncio.run(run_phase(urls, write_req, seconds, clients))
    w = summarize("write", n, e, lat, seconds)
    n, e, lat = asyncio.run(run_phase(urls, read_req, seconds, clients))
    r = summarize("read", n, e, lat, seconds)
    return {"write": w, "read": r}


def loadavg() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def one_round(args: argparse.Namespace, tmp: Path, base: int) -> dict:
    """Our Raft, then etcd (unless skipped), each freshly started, same load."""
    keys = args.keys
    results = {}
    for d in (f"raft{base}", f"etcd{base}"):
        (tmp / d).mkdir()
    procs, urls = start_raft(tmp / f"raft{base}", base)
    if args.target == "leader":
        urls = [u for u in urls if raft_is_leader(u)]
    try:
        results["raft"] = bench(
            "splitbrain.raft", urls,
            lambda i, s: ("/kv/put", {"key": f"k{(i * 7919 + s) % keys}", "value": s,
                                      "client": f"bench{base}-{i}", "seq": s}),
            lambda i, s: ("/kv/get", {"key": f"k{(i * 7919 + s) % keys}"}),
            args.seconds, args.clients)
    finally:
        stop(procs)
    if not args.skip_etcd:
        procs, urls = start_etcd(tmp / f"etcd{base}", (base + 1) % 250 + 2)
        if args.target == "leader":
            urls = [u for u in urls if etcd_is_leader(u)]
        try:
            results["etcd"] = bench(
                "etcd", urls,
                lambda i, s: ("/v3/kv/put", {"key": b64(f"k{(i * 7919 + s) % keys}"),
                                             "value": b64(str(s))}),
                lambda i, s: ("/v3/kv/range", {"key": b64(f"k{(i * 7919 + s) % keys}")}),
                args.seconds, args.clients)
        finally:
            stop(procs)
        for ph in ("write", "read"):
            ratio = results["raft"][ph]["ops_s"] / max(results["etcd"][ph]["ops_s"], 1e-9)
            print(f"ratio raft/etcd {ph}: {ratio:.2f}")
    print(loadavg(), flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="duration of each phase")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--skip-etcd", action="store_true")
    ap.add_argument("--target", choices=("all", "leader"), default="all",
                    help="spread clients over all nodes (followers forward) or use the leader")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat raft-then-etcd this many times and report the medians "
                         "(a shared machine's load drifts; alternating evens it out)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="raft-bench-"))
    base = random.randrange(20, 240)
    print(loadavg(), flush=True)
    try:
        rounds = [one_round(args, tmp, (base + 3 * r) % 230 + 10) for r in range(args.rounds)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results = rounds[0]
    if len(rounds) > 1:
        print(f"medians over {len(rounds)} rounds:")
        results = {}
        for system in rounds[0]:
            results[system] = {}
            for ph in ("write", "read"):
                results[system][ph] = {k: statistics.median(r[system][ph][k] for r in rounds)
                                       for k in rounds[0][system][ph]}
                m = results[system][ph]
                print(f"  {system:5s} {ph:5s} {m['ops_s']:9.0f} ops/s  p50 {m['p50_ms']:6.1f} ms"
                      f"  p99 {m['p99_ms']:6.1f} ms")
        if "etcd" in results:
            for ph in ("write", "read"):
                ratios = [r["raft"][ph]["ops_s"] / max(r["etcd"][ph]["ops_s"], 1e-9)
                          for r in rounds]
                print(f"ratio raft/etcd {ph}: median {statistics.median(ratios):.2f} "
                      f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)})")
    w = results["raft"]["write"]
    print(f"targets: write p99 {w['p99_ms']:.1f} ms (< 50 ms)", end="")
    if "etcd" in results:
        ratio = statistics.median(r["raft"]["write"]["ops_s"]
                                  / max(r["etcd"]["write"]["ops_s"], 1e-9) for r in rounds)
        print(f", write throughput {ratio:.2f} x etcd (>= 1.0)")
    else:
        print()


if __name__ == "__main__":
    main()
