"""``handwriting batch`` on a real local Ray, run as users run it (a process): the same bytes
as ``recognize --out`` for generated pages, lines and a PDF; a job started again skips what
is written; a bad input is recorded in failures.jsonl while the rest is read; a reader actor
killed in the middle of a job loses nothing and leaves nothing half-written; a cluster that
does not answer is one line. Inputs are listed from folders, patterns, lists and URIs."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from PIL import Image

from handwriting.batch import list_inputs
from handwriting.cli import main
from handwriting.errors import DataError

from conftest import free_ports, render_line, write_page

pytest.importorskip("ray", reason="needs the [scale] extra (ray[data])")
pytest.importorskip("pyarrow", reason="needs the [scale] extra (ray[data])")

READER = "ray::MapWorker(MapBatches(Reader))"


def _batch(*args, timeout=300, env=None):
    return subprocess.run(
        [sys.executable, "-m", "handwriting.cli", "batch", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "SOURCE_DATE_EPOCH": "1780000000", **(env or {})},
    )


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Pages and lines in nested folders, a two-page PDF (a page, a line) and a broken file."""
    img2pdf = pytest.importorskip("img2pdf", reason="needs the [pdf] extra (img2pdf)")
    root = tmp_path_factory.mktemp("archive") / "in"
    (root / "box1").mkdir(parents=True)
    (root / "box2").mkdir()
    write_page(root / "box1" / "letter.png", ["12", "34", "56"])
    write_page(root / "box2" / "letter.png", ["78", "90"])  # the same name in another box
    Image.fromarray(render_line("2468")).save(root / "box2" / "line.png")
    write_page(root / "p.png", ["13", "57"])
    Image.open(root / "p.png").save(root / "p150.png", dpi=(150, 150))
    Image.fromarray(render_line("975")).save(root / "l150.png", dpi=(150, 150))
    (root / "box1" / "doc.pdf").write_bytes(
        img2pdf.convert([str(root / "p150.png"), str(root / "l150.png")])
    )
    (root / "p150.png").unlink()
    (root / "l150.png").unlink()
    (root / "box2" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    # a Latin-1 name from an old archive: not valid UTF-8
    shutil.copy(root / "p.png", os.fsdecode(os.fsencode(root) + b"/caf\xe9.png"))
    return root


EXPECTED = [
    "box1/doc-p0001",
    "box1/doc-p0002",
    "box1/letter",
    "box2/letter",
    "box2/line",
    "p",
]


def _outputs(folder: Path, suffix: str) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder).with_suffix("")): p.read_bytes()
        for p in sorted(folder.rglob(f"*{suffix}"))
    }


@pytest.mark.slow
def test_batch_writes_what_recognize_writes_and_starts_again(archive, tmp_path, model_dir):
    out = tmp_path / "out"
    run = _batch(archive, "--out", out, "--format", "page", "--model", model_dir, "--workers", 1)
    assert run.returncode == 1, run.stderr  # two inputs failed, the rest was read
    assert "6 done, 0 skipped" in run.stderr and "2 failed" in run.stderr
    assert "Traceback" not in run.stderr
    got = _outputs(out, ".xml")
    assert sorted(got) == EXPECTED
    failures = [json.loads(ln) for ln in (out / "failures.jsonl").read_text().splitlines()]
    broken = [f for f in failures if f["source"] == str(archive / "box2" / "broken.png")]
    assert "damaged PNG" in broken[0]["error"] or "not a readable image" in broken[0]["error"]
    assert any("caf\\xe9.png: its name is not valid UTF-8" in f["error"] for f in failures)
    for box in ("box1", "box2"):  # recognize, box by box (the same names clash across boxes)
        files = sorted(str(p) for p in (archive / box).iterdir() if p.name != "broken.png")
        cli = tmp_path / f"cli-{box}"
        env = {"SOURCE_DATE_EPOCH": "1780000000"}
        os.environ.update(env)
        try:
            assert main(["recognize", *files, "--format", "page", "--model", str(model_dir),
                         "--out", str(cli)]) == 0  # fmt: skip
        finally:
            del os.environ["SOURCE_DATE_EPOCH"]
        for name, data in _outputs(cli, ".xml").items():
            assert got[f"{box}/{name}"] == data, name
    (out / "box2" / "line.xml").unlink()
    again = _batch(archive, "--out", out, "--format", "page", "--model", model_dir, "--json")
    summary = json.loads(again.stdout)
    assert summary["done"] == 1 and summary["skipped"] == 5 and summary["failed"] == 2
    assert _outputs(out, ".xml") == got


@pytest.mark.slow
def test_a_reader_killed_mid_job_loses_nothing(tmp_path, model_dir):
    """SIGKILL one reader actor once the first outputs are written: Ray starts another and
    the killed reader's inputs are read again; every output is whole and as a run without
    faults writes it; no temporary file is left."""
    src = tmp_path / "in"
    src.mkdir()
    for k in range(24):
        write_page(src / f"page{k:02d}.png", [str(10 + k), str(40 + k), str(70 + k)])
    clean = tmp_path / "clean"
    assert _batch(src, "--out", clean, "--model", model_dir, "--format", "json").returncode == 0
    out = tmp_path / "out"
    args = [src, "--out", out, "--model", model_dir, "--format", "json", "--batch-size", 1]
    job = subprocess.Popen(
        [sys.executable, "-m", "handwriting.cli", "batch", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = None
    try:
        deadline = time.monotonic() + 240
        while killed is None and time.monotonic() < deadline and job.poll() is None:
            if out.is_dir() and any(out.glob("*.json")):
                readers = [
                    int(p.parent.name)
                    for p in Path("/proc").glob("[0-9]*/cmdline")
                    if _cmdline(p).startswith(READER)
                ]
                if readers:
                    killed = readers[0]
                    os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
        _, err = job.communicate(timeout=300)
    finally:
        if job.poll() is None:
            job.kill()
    assert killed is not None, "no reader was running to be killed"
    assert job.returncode == 0, err
    assert _outputs(out, ".json") == _outputs(clean, ".json")
    assert len(_outputs(out, ".json")) == 24
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary left


def _cmdline(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_an_unreachable_cluster_is_one_line_and_writes_nothing(archive, tmp_path, capsys):
    out = tmp_path / "out"
    t = time.monotonic()
    assert main(["batch", str(archive), "--out", str(out), "--ray-address", "127.0.0.1:9"]) == 2
    assert time.monotonic() - t < 30
    err = capsys.readouterr().err
    assert "--ray-address 127.0.0.1:9: nothing answers there" in err and err.count("\n") == 1
    assert not out.exists()
    assert main(["batch", str(archive), "--out", str(out), "--ray-address", "head"]) == 2
    assert "give HOST:PORT" in capsys.readouterr().err


def test_inputs_from_folders_patterns_lists_and_uris(archive, tmp_path):
    listed = list_inputs([str(archive)])
    assert [rel for _, rel in listed] == [
        "box1/doc",
        "box1/letter",
        "box2/broken",
        "box2/letter",
        "box2/line",
        "caf\udce9",
        "p",
    ]
    assert list_inputs([str(archive / "box*" / "line.png")]) == [
        (str(archive / "box2" / "line.png"), "line")
    ]
    paths = tmp_path / "paths.txt"
    paths.write_text(f"# scans\n{archive / 'p.png'}\n\n{archive / 'box2' / 'line.png'}\n")
    assert [rel for _, rel in list_inputs([f"@{paths}"])] == ["p", "line"]
    uri = list_inputs([f"file://{archive / 'box2'}"])
    assert uri[0] == (f"file://{archive / 'box2' / 'broken.png'}", "broken")
    with pytest.raises(DataError, match="would both be written as letter"):
        list_inputs([str(archive / "box1" / "letter.png"), str(archive / "box2" / "letter.png")])
    for bad, message in (("nowhere", "no such file"), ("@nolist.txt", "list file not found"),
                         (str(archive / "*.tif"), "matches no file")):  # fmt: skip
        with pytest.raises(DataError, match=message):
            list_inputs([bad])


@pytest.mark.slow
def test_batch_on_a_running_cluster(archive, tmp_path, model_dir):
    """--ray-address: the job runs on a cluster started apart (`ray start --head` here, with
    three CPUs) and writes what a local run writes."""
    (port,) = free_ports(1)
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray puts sockets in it
    head = subprocess.run(
        [*ray_cli, "start", "--head", f"--port={port}", "--num-cpus=3", f"--temp-dir={temp}",
         "--include-dashboard=false", "--disable-usage-stats"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    try:
        assert head.returncode == 0, head.stderr[-2000:]
        out = tmp_path / "out"
        # the cluster wants the token `ray start` keeps in ~/.ray/auth_token
        run = _batch(archive / "box1", "--out", out, "--model", model_dir, "--workers", 1,
                     "--ray-address", f"127.0.0.1:{port}", "--json",
                     env={"RAY_AUTH_MODE": "token"})  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        assert json.loads(run.stdout)["done"] == 3
        local = tmp_path / "local"
        assert _batch(archive / "box1", "--out", local, "--model", model_dir).returncode == 0
        assert _outputs(out, ".xml") == _outputs(local, ".xml")
    finally:  # this cluster's processes only (`ray stop` would stop every Ray here)
        _stop_tree(lambda line: temp in line or ("ray" in line and f"127.0.0.1:{port}" in line))
        shutil.rmtree(temp, ignore_errors=True)


def _stop_tree(matches) -> None:
    """Stop the processes whose command line ``matches``, and all their descendants:
    SIGTERM, then SIGKILL for any left after 10 s."""
    parents, picked = {}, set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            parents[pid] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if matches(_cmdline(stat.parent / "cmdline")):
            picked.add(pid)
    grown = True
    while grown:
        more = {pid for pid, parent in parents.items() if parent in picked} - picked
        picked |= more
        grown = bool(more)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in picked:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in picked):
            time.sleep(0.2)


def test_a_remote_document_is_fetched_once_for_its_pages(archive, tmp_path, monkeypatch):
    from handwriting import batch

    fetched = []
    real_fetch = batch._fetch

    def counting_fetch(name, folder):
        fetched.append(name)
        return real_fetch(name, folder)

    monkeypatch.setattr(batch, "_fetch", counting_fetch)
    monkeypatch.setattr(batch, "_documents", batch.OrderedDict())
    doc, image = f"file://{archive / 'box1' / 'doc.pdf'}", f"file://{archive / 'p.png'}"
    row = {"source": doc, "out": str(tmp_path / "doc"), "format": "text", "dpi": None}
    pages = batch._pages(row)
    assert [p["source"] for p in pages] == [f"{doc}#page=1", f"{doc}#page=2"]
    shapes = [batch._load(p["source"], None, str(tmp_path)).shape for p in pages]
    assert fetched == [doc] and shapes[0] != shapes[1]  # one download, two different pages
    copy = Path(batch._documents[doc])
    assert copy.is_file()

    batch._pages({**row, "source": image, "out": str(tmp_path / "p")})
    assert list(batch._documents) == [doc]  # an image is not kept: its reader fetches it

    monkeypatch.setattr(batch, "_DOCUMENTS_KEPT", 1)
    other = f"file://{archive / 'box1' / 'letter.png'}"
    assert Path(batch._fetch_document(other)).is_file()
    assert list(batch._documents) == [other] and not copy.exists()  # the evicted copy is gone
    batch._forget_documents()
