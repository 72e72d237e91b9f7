"""The recognition service under load, on loopback, against the batched CLI on the same lines.

    python benchmarks/serve.py [--lines DIR] [--pages DIR] [--requests 200] [--clients 16]
                               [--page-requests 20] [--page-clients 4] [--workers 1 2]
                               [--format json|text] [--serve-args '...'] [--keras]

Starts ``handwriting serve`` (the default model, LiteRT) on a free port, once per
``--workers`` value, and measures:

- start to ready (``/v1/health`` 200) and the peak RSS of the server's processes, summed;
- line load: ``--requests`` single-line requests (JSON) from ``--clients`` concurrent
  clients: errors, p50/p95 latency, lines/s; then page load: ``--page-requests`` page requests
  from ``--page-clients``;
- the batched CLI on the same line images in the same run: ``handwriting recognize`` on all
  of them in one process (end to end, model loading included), and the reading it does once
  the model is loaded (``reading.read`` on the files, the CLI's own path), whose lines/s the
  service is compared with.

With ``--keras`` the start-to-ready time and memory are also measured for the Keras model
(``--backend keras``, the ``[train]`` extra). Line images are ``*.png`` in ``--lines``
(default: the project's samples, cycled), pages the images in ``--pages`` (default: the
sample page). Clients run on the same machine as the server and share its cores.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
EXTRA: tuple = ()  # serve options given with --serve-args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and its worker processes, summed, MiB."""
    pids, total = [pid], 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


class Server:
    """``handwriting serve ARGS`` on a free port, from start to ready."""

    def __init__(self, *args):
        args = (*args, *EXTRA)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        start = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "handwriting.cli", "serve", "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited ({self.proc.returncode})")
            try:
                if httpx.get(f"{self.url}/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.ready_s = time.perf_counter() - start

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def load(url: str, files: list[Path], requests: int, clients: int, fmt: str = "json") -> dict:
    """``requests`` POSTs of ``files`` (cycled) from ``clients`` threads: errors, latencies,
    lines read and wall time."""
    latencies, lines, errors = [], [], []
    lock = threading.Lock()
    todo = iter(range(requests))

    def client():
        with httpx.Client(timeout=120) as http:
            while True:
                with lock:
                    k = next(todo, None)
                if k is None:
                    return
                path = files[k % len(files)]
                t = time.perf_counter()
                try:
                    r = http.post(
                        f"{url}/v1/recognize",
                        files={"file": (path.name, path.read_bytes())},
                        params={"format": fmt},
                    )
                    ok = r.status_code == 200
                except httpx.HTTPError as exc:
                    ok, r = False, exc
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    if ok:
                        lines.append(
                            r.text.count("\n") if fmt == "text" else len(r.json()["lines"])
                        )
                    else:
                        errors.append(str(getattr(r, "text", r))[:200])

    t = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    ms = np.array(latencies) * 1000
    return {
        "requests": requests,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "lines": sum(lines),
        "wall_s": wall,
        "lines_per_s": sum(lines) / wall,
    }


def cli_baseline(files: list[Path]) -> tuple[float, float]:
    """Lines/s of ``handwriting recognize`` on ``files`` in one process (end to end), and of
    its reading once the model is loaded (``reading.read``, in this process)."""
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "handwriting.cli", "recognize", *map(str, files)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    end_to_end = len(files) / (time.perf_counter() - t)
    from handwriting.reading import read
    from handwriting.recognize import Recognizer

    rec = Recognizer()
    read(rec, files[:16])  # warm-up
    t = time.perf_counter()
    read(rec, files)
    return end_to_end, len(files) / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lines", type=Path, help="folder of line images (*.png)")
    p.add_argument("--pages", type=Path, help="folder of page images")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--page-requests", type=int, default=20)
    p.add_argument("--page-clients", type=int, default=4)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="serve --workers")
    p.add_argument("--keras", action="store_true", help="also time the Keras model's start")
    p.add_argument("--format", default="json", choices=["json", "text"], help="of the answers")
    p.add_argument("--serve-args", default="", help="more serve options, e.g. '--max-wait-ms 5'")
    args = p.parse_args()
    global EXTRA
    EXTRA = tuple(args.serve_args.split())
    lines = sorted((args.lines or SAMPLES).glob("*.png"))
    if args.lines is None:
        lines = [f for f in lines if f.name.startswith("line")]
    pages = (
        sorted(
            f for f in args.pages.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif")
        )
        if args.pages
        else [SAMPLES / "page1.png"]
    )
    batch = [lines[k % len(lines)] for k in range(args.requests)]
    print(f"{len(lines)} line images, {len(pages)} page images; {os.cpu_count()} CPU cores")

    runs = []
    for workers in args.workers:
        server = Server("--workers", str(workers))
        try:
            line_load = load(server.url, lines, args.requests, args.clients, args.format)
            page_load = load(server.url, pages, args.page_requests, args.page_clients, args.format)
            rss = peak_rss_mb(server.proc.pid)
        finally:
            server.stop()
        runs.append((workers, server.ready_s, rss, line_load, page_load))
    cli_e2e, cli_read = cli_baseline(batch)

    print(
        f"\n{'serve (LiteRT)':16s} {'ready s':>7s} {'RSS MiB':>7s} {'load':>5s} {'clients':>7s} "
        f"{'requests':>8s} {'errors':>6s} {'p50 ms':>7s} {'p95 ms':>7s} {'lines/s':>8s} {'vs CLI':>6s}"
    )
    for workers, ready, rss, *loads in runs:
        for name, r, clients in zip(("lines", "pages"), loads, (args.clients, args.page_clients)):
            print(
                f"{f'--workers {workers}':16s} {ready:7.2f} {rss:7.0f} {name:>5s} {clients:7d} "
                f"{r['requests']:8d} {r['errors']:6d} {r['p50_ms']:7.0f} {r['p95_ms']:7.0f} "
                f"{r['lines_per_s']:8.1f} {100 * r['lines_per_s'] / cli_read:5.0f}%"
            )
            if r["errors"]:
                print(f"  first error: {r['first_error']}")
    print(
        f"\nbatched CLI on the same {len(batch)} lines: {cli_e2e:.1f} lines/s end to end, "
        f"{cli_read:.1f} lines/s once the model is loaded (the 'vs CLI' base; target 80 % "
        "under the line load)"
    )

    if args.keras:
        keras = Server(
            "--model", str(ROOT / "handwriting" / "models" / "default"), "--backend", "keras"
        )
        try:
            load(keras.url, lines, 16, 4)
            krss = peak_rss_mb(keras.proc.pid)
        finally:
            keras.stop()
        print(
            f"serve (Keras): ready in {keras.ready_s:.2f} s, peak RSS {krss:.0f} MiB after 16 lines"
        )


if __name__ == "__main__":
    main()
