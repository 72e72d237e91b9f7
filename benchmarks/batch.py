"""``handwriting batch`` on a local Ray against the plain CLI, on the same pages.

    python benchmarks/batch.py [--pages DIR] [--count 50] [--workers 1 2] [--format alto]

Pages are the images in ``--pages`` (default: ``--count`` generated handwritten pages,
``synth_page("plain")`` with DejaVu Sans, 1100 x 900 px). Each row is one fresh process,
timed end to end (start-up, Ray's included): ``handwriting recognize PAGES --out`` and
``handwriting batch DIR --out --workers N``; pages/s, lines/s, and the peak RSS of each
reader actor (polled from /proc while the job runs).
"""

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def make_pages(folder: Path, count: int) -> None:
    import matplotlib
    from PIL import Image

    from handwriting.synth import synth_page

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for k in range(count):
        gray, _ = synth_page("plain", [font], seed=k)
        Image.fromarray(gray).save(folder / f"page{k:03d}.png")


def reader_peaks(stop: threading.Event, peaks: dict) -> None:
    """Poll the reader actors' peak RSS (VmHWM, MiB) into ``peaks`` until ``stop``."""
    while not stop.is_set():
        for cmd in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if not cmd.read_bytes().startswith(b"ray::MapWorker(MapBatches(Reader))"):
                    continue
                status = (cmd.parent / "status").read_text()
            except OSError:
                continue
            m = re.search(r"VmHWM:\s+(\d+)", status)
            if m:
                peaks[cmd.parent.name] = max(peaks.get(cmd.parent.name, 0), int(m[1]) / 1024)
        time.sleep(0.2)


def timed(cmd: list[str]) -> tuple[float, dict]:
    stop, peaks = threading.Event(), {}
    poller = threading.Thread(target=reader_peaks, args=(stop, peaks))
    poller.start()
    t = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    stop.set()
    poller.join()
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}... failed:\n{run.stderr[-2000:]}")
    return wall, peaks


def count_lines(folder: Path, fmt: str) -> int:
    if fmt != "alto":
        return 0
    return sum(p.read_text().count("<TextLine ") for p in folder.rglob("*.xml"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pages", type=Path, help="folder of page images (default: generated)")
    p.add_argument("--count", type=int, default=50, help="pages to generate")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--format", default="alto")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        tmp = Path(tmp)
        pages = args.pages
        if pages is None:
            pages = tmp / "pages"
            pages.mkdir()
            make_pages(pages, args.count)
        files = sorted(str(f) for f in pages.iterdir() if f.is_file())
        exe = [sys.executable, "-m", "handwriting.cli"]
        rows = []
        out = tmp / "cli"
        wall, _ = timed([*exe, "recognize", *files, "--format", args.format, "--out", str(out)])
        rows.append(("recognize (one process)", wall, count_lines(out, args.format), {}))
        for n in args.workers:
            out = tmp / f"ray{n}"
            cmd = [*exe, "batch", str(pages), "--out", str(out), "--format", args.format]
            wall, peaks = timed([*cmd, "--workers", str(n)])
            rows.append((f"batch --workers {n} (Ray)", wall, count_lines(out, args.format), peaks))
    print(f"{len(files)} pages; {__import__('os').cpu_count()} CPU cores\n")
    print(f"{'run':28s} {'wall s':>7s} {'pages/s':>8s} {'lines/s':>8s} {'reader RSS MiB':>15s}")
    for name, wall, lines, peaks in rows:
        rss = ", ".join(f"{v:.0f}" for v in peaks.values()) or "-"
        print(f"{name:28s} {wall:7.1f} {len(files) / wall:8.2f} {lines / wall:8.1f} {rss:>15s}")


if __name__ == "__main__":
    main()
