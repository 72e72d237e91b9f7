"""The fuzz suite (``tests/fuzz_inputs.py``) in a child process under a 3 GiB address-space
limit: every generated input gives a result or one clear error, in bounded time and memory."""

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("hypothesis", reason="hypothesis not installed (pip install -e '.[dev]')")

FUZZ = Path(__file__).resolve().parent / "fuzz_inputs.py"
LIMIT = 3 * 2**30  # bytes of address space


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


@pytest.mark.slow
def test_fuzzed_inputs_give_a_result_or_one_clear_error(tmp_path):
    done = subprocess.run(
        [sys.executable, str(FUZZ), "--examples", "60"],
        capture_output=True,
        text=True,
        timeout=900,
        preexec_fn=_limit_memory,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report["counts"]) == {
        "image bytes", "image shapes", "ALTO documents", "labels", "language models", "configs"
    }  # fmt: skip
    assert all(n >= 60 for n in report["counts"].values()), report
