"""``handwriting serve`` over loopback HTTP, started as users start it (a process on a free
port, stopped at the end): the same bytes as ``recognize --out`` for the samples in every
format, bad input answered 4xx with one line of JSON (and the server still up), the API
key, the batching of concurrent requests, and the page at ``/`` driven in headless
Chromium."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from handwriting.cli import main

from conftest import free_ports

httpx = pytest.importorskip("httpx", reason="needs the [dev] extra (httpx)")
pytest.importorskip("starlette", reason="needs the [serve] extra")
pytest.importorskip("uvicorn", reason="needs the [serve] extra")

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
NAMES = ["line1.png", "line2.png", "page1.png"]
FORMATS = ["json", "text", "alto", "page", "hocr"]
EPOCH = "1780000000"  # SOURCE_DATE_EPOCH: PAGE XML's timestamps the same on both sides


@contextmanager
def serving(*args, env=None):
    """``handwriting serve ARGS`` on a free loopback port, ready (its health answered 200);
    yields the base URL and the process, and stops it (killed if it does not stop)."""
    (port,) = free_ports(1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "handwriting.cli", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": env["HANDWRITING_API_KEY"]} if env else {}
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"{url}/v1/health", headers=headers).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server was not ready within 90 s"
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server():
    with serving() as (url, _):
        yield url


def _post(url, name, data=None, **params):
    files = {"file": (name, data if data is not None else (SAMPLES / name).read_bytes())}
    return httpx.post(f"{url}/v1/recognize", files=files, params=params, timeout=60)


def test_answers_are_the_files_recognize_writes(server, tmp_path, monkeypatch):
    monkeypatch.chdir(SAMPLES)  # the CLI names its inputs as the server names uploads
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    for fmt in FORMATS:
        out = tmp_path / fmt
        assert main(["recognize", *NAMES, "--format", fmt, "--out", str(out)]) == 0
        for name in NAMES:
            answer = _post(server, name, format=fmt)
            assert answer.status_code == 200, answer.text
            (cli,) = out.glob(f"{Path(name).stem}.*")
            assert answer.content == cli.read_bytes(), (fmt, name)
    raw = httpx.post(
        f"{server}/v1/recognize",
        content=(SAMPLES / "line1.png").read_bytes(),
        params={"format": "text", "name": "line1.png"},
        headers={"Content-Type": "image/png"},
    )
    assert raw.content == (tmp_path / "text" / "line1.txt").read_bytes()
    assert json.loads(_post(server, "line1.png", beam="8", lm="model").content)["text"]


def test_health_and_model(server):
    assert httpx.get(f"{server}/v1/health").json() == {"status": "ready"}
    info = httpx.get(f"{server}/v1/model").json()
    assert info["charset_size"] > 100 and info["backend"] == "litert"
    assert 0 < info["metrics"]["val_cer"] < 100 and info["language_model"] is True


def test_bad_input_is_a_4xx_with_one_line_of_json(server):
    png = (SAMPLES / "line1.png").read_bytes()
    cases = [
        (_post(server, "x.png", b"not an image"), 422, "x.png: not a readable image"),
        (_post(server, "x.png", b""), 400, "empty body"),
        (_post(server, "x.png", png, size="large"), 400, "unknown option 'size'"),
        (_post(server, "x.png", png, format="docx"), 400, "format='docx'"),
        (_post(server, "x.png", png, beam="wide"), 400, "beam='wide'"),
        (_post(server, "x.png", png, lm="/etc/passwd"), 400, "lm='/etc/passwd'"),
        (_post(server, "x.png", png, pages="2"), 400, "x.png is not a PDF or TIFF"),
        (_post(server, "../../x.pdf", b"%PDF-1.4 cut"), 422, "x.pdf: not a readable PDF"),
        (
            httpx.post(f"{server}/v1/recognize", data={"format": "json"}),
            415,
            "application/x-www-form-urlencoded",
        ),
        (
            httpx.post(f"{server}/v1/recognize", files={"image": ("a.png", png)}),
            400,
            "a field named file",
        ),
        (httpx.get(f"{server}/v2/recognize"), 404, "GET /v2/recognize"),
    ]
    for answer, status, message in cases:
        assert answer.status_code == status, (message, answer.text)
        assert "\n" not in answer.text.strip() and message in answer.json()["error"], answer.text
        assert "/tmp" not in answer.text  # the upload's private folder is never shown
    assert httpx.get(f"{server}/v1/health").status_code == 200  # still up


def test_api_key_and_upload_limit():
    with serving("--max-upload-mb", "0.05", env={"HANDWRITING_API_KEY": "s3cret"}) as (url, _):
        png = (SAMPLES / "line2.png").read_bytes()  # 44 kB
        assert httpx.get(f"{url}/v1/model").status_code == 401
        assert _post(url, "line2.png", png).status_code == 401
        bad = httpx.post(f"{url}/v1/recognize", content=png, headers={"X-API-Key": "guess"})
        assert bad.status_code == 401 and "API key" in bad.json()["error"]
        good = {"Authorization": "Bearer s3cret", "Content-Type": "image/png"}
        assert httpx.post(f"{url}/v1/recognize", content=png, headers=good).status_code == 200
        big = np.random.default_rng(0).integers(0, 255, 60000, dtype=np.uint8).tobytes()
        answer = httpx.post(f"{url}/v1/recognize", content=big, headers=good)
        assert answer.status_code == 413 and "over the limit of 0.05 MB" in answer.json()["error"]
        assert httpx.get(url).status_code == 200  # the page itself needs no key


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_not_ready_until_the_model_is_loaded():
    """Before the model is loaded (or when it failed to), /v1 answers 503 with one line of
    JSON (and Retry-After while loading); the page is served all the same."""
    from starlette.testclient import TestClient

    from handwriting.service import Engine, Settings, create_app

    engine = Engine(Settings())
    client = TestClient(create_app(Settings(), engine))  # no lifespan: nothing loads
    for path in ("/v1/health", "/v1/model"):
        answer = client.get(path)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
        assert answer.json() == {"error": "the model is loading; try again shortly"}
    answer = client.post("/v1/recognize", content=(SAMPLES / "line1.png").read_bytes())
    assert answer.status_code == 503
    assert client.get("/").status_code == 200
    engine.failed = "/srv/models/x: damaged"
    engine.ready.set()
    answer = client.get("/v1/health")
    assert answer.status_code == 503 and "/srv" not in answer.text


def test_upload_names_are_plain_short_file_names():
    from handwriting.service import safe_name

    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\scans\\a.png") == "a.png"
    assert safe_name(".hidden\x1b[31m.png") == "hidden[31m.png"
    assert safe_name("") == safe_name(None) == "upload"
    long = safe_name("手" * 150 + ".png")  # 3 bytes a character
    assert len(long.encode()) <= 200 and long.startswith("手")


def test_serve_refuses_a_busy_port_and_a_missing_model(capsys, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path / "none.tflite")]) == 2
    assert "model not found" in capsys.readouterr().err


def test_concurrent_requests_share_batches():
    """Lines predicted by concurrent callers are run together, each caller getting its
    own rows back."""
    from handwriting.service import BatchingBackend

    calls = []

    class Doubling:
        charset = preprocess_config = meta = None
        downsample = 4

        def predict(self, batch):
            calls.append(len(batch))
            time.sleep(0.01)
            return batch * 2

    backend = BatchingBackend(Doubling(), max_batch=32, max_wait_ms=200)
    batches = [np.full((2, 3, 8, 1), k, np.float32) for k in range(8)]
    results = [None] * 8

    def call(k):
        with backend.reading():
            results[k] = backend.predict(batches[k])

    with backend.reading():  # a request still being read keeps the batch open
        threads = [threading.Thread(target=call, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
    backend.close()
    assert all(np.array_equal(results[k], batches[k] * 2) for k in range(8))
    assert sum(calls) == 16 and len(calls) < 8  # fewer forward passes than callers


@pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="needs Debian's chromium and chromium-driver",
)
def test_the_page_in_headless_chromium(server, tmp_path):
    """Chromium loads /, uploads the sample page through the form, and shows each line the
    service reads, drawn over the scan; a screenshot is saved (and copied to
    $HANDWRITING_SCREENSHOT when set: the README's)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs the [dev] extra")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    expected = [ln["text"] for ln in _post(server, "page1.png", format="json").json()["lines"]]
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    browser = webdriver.Chrome(options=options, service=service)
    try:
        browser.set_page_load_timeout(30)
        browser.get(server + "/")
        browser.find_element(By.ID, "file").send_keys(str(SAMPLES / "page1.png"))
        browser.find_element(By.ID, "read").click()
        WebDriverWait(browser, 60).until(
            lambda b: "lines read" in b.find_element(By.ID, "status").text
        )
        shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#lines .text")]
        assert shown == expected and len(shown) >= 3
        assert len(browser.find_elements(By.CSS_SELECTOR, "#scan polygon")) == len(expected)
        assert browser.execute_script("return document.querySelector('#scan img').naturalWidth") > 0
        shot = tmp_path / "serve.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        if os.environ.get("HANDWRITING_SCREENSHOT"):
            shutil.copy(shot, os.environ["HANDWRITING_SCREENSHOT"])
    finally:
        browser.quit()
