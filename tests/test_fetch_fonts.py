"""scripts/fetch_fonts.py against a stand-in ``npm`` that packs local folders (no network)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"

FAKE_NPM = """#!{python}
import json, os, sys, tarfile
from pathlib import Path
args = sys.argv[1:]
family = args[1].split("/")[-1]
src = Path(os.environ["FAKE_NPM_ROOT"]) / family
if not src.is_dir():
    print("npm error 404 Not Found - GET @fontsource/" + family, file=sys.stderr)
    sys.exit(1)
dest = Path(args[args.index("--pack-destination") + 1])
name = "fontsource-" + family + "-5.0.0.tgz"
with tarfile.open(dest / name, "w:gz") as tar:
    tar.add(src / "package", arcname="package")
print(json.dumps([{{"filename": name}}]))
"""


def _package(root: Path, family: str, licence: str, flavor: str | None) -> None:
    from fontTools.ttLib import TTFont

    pkg = root / family / "package"
    (pkg / "files").mkdir(parents=True)
    (pkg / "package.json").write_text(
        json.dumps({"name": f"@fontsource/{family}", "version": "5.0.0", "license": licence})
    )
    (pkg / "metadata.json").write_text(
        json.dumps(
            {
                "family": family.title(),
                "license": {"type": licence, "attribution": f"Copyright the {family} authors"},
            }
        )
    )
    font = TTFont(str(FONT))
    font.flavor = flavor
    font.save(str(pkg / "files" / f"{family}-latin-400-normal.{flavor or 'ttf'}"))


@pytest.fixture
def fake_npm(tmp_path):
    pytest.importorskip("brotli", reason="WOFF2 needs brotli: pip install 'fonttools[woff]'")
    bin_dir, root = tmp_path / "bin", tmp_path / "registry"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM.format(python=sys.executable))
    npm.chmod(0o755)
    _package(root, "open-hand", "OFL-1.1", "woff2")
    _package(root, "apache-hand", "Apache-2.0", "woff")
    _package(root, "mit-hand", "MIT", "woff2")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_NPM_ROOT": str(root),
    }
    return env


def _run(env, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fetch_fonts.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_open_licences_are_kept_converted_and_listed(tmp_path, fake_npm):
    from fontTools.ttLib import TTFont

    out = tmp_path / "fonts"
    done = _run(
        fake_npm,
        str(out),
        "--families",
        "open-hand",
        "apache-hand",
        "mit-hand",
        "missing-hand",
        "--min-families",
        "2",
    )
    assert done.returncode == 0, done.stderr
    assert "2 families" in done.stdout
    assert "skipped mit-hand: licence 'MIT'" in done.stderr
    assert "skipped missing-hand: npm error 404" in done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert {(r["id"], r["licence"], r["file"]) for r in manifest} == {
        ("open-hand", "OFL-1.1", "open-hand-400.ttf"),
        ("apache-hand", "Apache-2.0", "apache-hand-400.ttf"),
    }
    assert all(r["version"] == "5.0.0" and r["attribution"] for r in manifest)
    for r in manifest:  # plain TrueType that synth can draw with
        font = TTFont(str(out / r["file"]))
        assert font.flavor is None and ord("a") in font.getBestCmap()
    assert not list(out.glob("mit-hand*"))


def test_too_few_families_is_exit_code_1(tmp_path, fake_npm):
    done = _run(fake_npm, str(tmp_path / "fonts"), "--families", "open-hand", "mit-hand")
    assert done.returncode == 1 and "1 families" in done.stdout
