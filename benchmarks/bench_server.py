"""The HTTP server against the same calls in process (issue 12).

``/v1/decide`` and ``/v1/recommend`` (k=10 of 100 candidates) on a real ``whylens serve
--workers 2`` over one SQLite store, beside ``p.decide`` / ``p.recommend`` with the same inputs
in this process, in one run: p50 and p99 latency of sequential calls (keep-alive client) and
requests/s with 4 concurrent clients. Goal: HTTP p50 <= in-process p50 + 2 ms.

Besides wall time (noisy on a shared machine), CPU time per call: this process's for the calls
in process, the server's (parent and workers, from ``/proc``) per sequential request. The client
sends each body encoded once beforehand: encoding it is the caller's work, not the server's.

Short by default; ``WHYLENS_BENCH_SERVER_N`` sets the calls per measurement (default 150).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sdk import Personalizer  # noqa: E402
from tests.server.support import CREDIT, RANKER, Server, build_store  # noqa: E402

N = int(os.environ.get("WHYLENS_BENCH_SERVER_N", "150"))
CLIENTS = 4


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(fn, n: int, cpu: list[float] | None = None,  # type: ignore[no-untyped-def]
           cpu_of=time.process_time) -> list[float]:
    for _ in range(10):
        fn()
    out = []
    cpu_start = cpu_of()
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    if cpu is not None:
        cpu.append((cpu_of() - cpu_start) / n)
    return out


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its children, from /proc (Linux)."""
    total, todo = 0.0, [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = build_store(folder)
        who = store.consenting[0]
        candidates = store.candidates(who, 100)
        features = store.credit_features(who)
        decide_body = {"subject": who, "model": CREDIT, "features": features}
        recommend_body = {"subject": who, "model": RANKER, "candidates": candidates, "k": 10}

        local_cpu: dict[str, list[float]] = {"decide": [], "recommend": []}
        # the same calls as the routes make: same store, durability (the default), k and items
        with Personalizer.open(store.db, keyring=store.keyring) as p:
            local = {
                "decide": _timed(lambda: p.decide(who, features, model=CREDIT), N,
                                 local_cpu["decide"]),
                "recommend": _timed(
                    lambda: p.recommend(who, candidates, model=RANKER, k=10), N,
                    local_cpu["recommend"],
                ),
            }

        server = Server(store, folder, workers=2)
        try:
            headers = {"Authorization": f"Bearer {store.tokens['service']}",
                       "Content-Type": "application/json"}
            remote: dict[str, list[float]] = {}
            server_cpu: dict[str, list[float]] = {}
            inside: dict[str, list[float]] = {}
            rates: dict[str, float] = {}
            for name, path, obj in [("decide", "/v1/decide", decide_body),
                                    ("recommend", "/v1/recommend", recommend_body)]:
                body = json.dumps(obj).encode()
                with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:

                    spent: list[float] = []

                    def call(c: httpx.Client = c, path: str = path, body: bytes = body,
                             spent: list[float] = spent) -> None:
                        r = c.post(path, content=body)
                        assert r.status_code == 200, r.text
                        spent.append(float(r.headers["server-timing"].split("dur=")[1]) / 1e3)

                    server_cpu[name] = []
                    remote[name] = _timed(call, N, server_cpu[name],
                                          lambda: _tree_cpu(server.proc.pid))
                    inside[name] = spent[-N:]

                def burst(_: int, path: str = path, body: bytes = body) -> None:
                    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
                        for _ in range(N // CLIENTS):
                            assert c.post(path, content=body).status_code == 200

                start = time.perf_counter()
                with ThreadPoolExecutor(CLIENTS) as pool:
                    list(pool.map(burst, range(CLIENTS)))
                rates[name] = (N // CLIENTS) * CLIENTS / (time.perf_counter() - start)
        finally:
            server.stop()

    load = os.getloadavg()[0]
    print(f"{N} calls each; HTTP: whylens serve --workers 2, keep-alive httpx client; "
          f"req/s with {CLIENTS} concurrent clients; load average {load:.1f} on "
          f"{os.cpu_count()} cores")
    print(f"{'call':<28}{'in-process p50':>16}{'HTTP p50':>11}{'in worker':>11}"
          f"{'HTTP p99':>11}{'req/s':>9}{'p50 +ms':>9}  goal (<= +2 ms)"
          f"{'CPU in process':>16}{'CPU server':>12}{'CPU +ms':>9}")
    for name, label in [("decide", "/v1/decide"),
                        ("recommend", "/v1/recommend k=10 of 100")]:
        lp50 = statistics.median(local[name]) * 1e3
        hp50 = statistics.median(remote[name]) * 1e3
        hp99 = _pct(remote[name], 0.99) * 1e3
        wp50 = statistics.median(inside[name]) * 1e3
        extra = hp50 - lp50
        print(f"{label:<28}{lp50:>13.2f} ms{hp50:>8.2f} ms{wp50:>8.2f} ms{hp99:>8.2f} ms"
              f"{rates[name]:>9.0f}"
              f"{extra:>+9.2f}  {'met' if extra <= 2.0 else 'NOT met':<15}"
              f"{local_cpu[name][0] * 1e3:>13.2f} ms{server_cpu[name][0] * 1e3:>9.2f} ms"
              f"{(server_cpu[name][0] - local_cpu[name][0]) * 1e3:>+9.2f}")


if __name__ == "__main__":
    main()
