"""The web UI in a real browser: the isolated-environments walkthrough, clicked through by
Playwright (playwright-core from npm) driving Debian's Chromium headless
(integration/ui/walkthrough.mjs), against the real binary. .ci/run installs Chromium and
playwright-core (into ~/.cache/sluice/node); without them the test skips, which
SLUICE_REQUIRE_ALL=1 turns into a failure."""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests

from conftest import ACCESS_KEY, SECRET_KEY, Sluice
from reviews import ACTION_FILE, reviews

pytestmark = pytest.mark.client("browser ui")

HERE = Path(__file__).resolve().parent
NODE_DIR = Path(os.environ.get("SLUICE_NODE_DIR", Path.home() / ".cache" / "sluice" / "node"))
PLAYWRIGHT = NODE_DIR / "node_modules" / "playwright-core"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ROWS = 486_000


def browser_tools():
    """node, or a skip that names what is missing."""
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed (.ci/run installs nodejs)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)")
    if not PLAYWRIGHT.is_dir():
        pytest.skip(f"playwright-core is not in {NODE_DIR} (.ci/run installs it from npm)")
    return node


@pytest.fixture
def server():
    """A sidecar of its own: the walkthrough's repository `example` starts from nothing."""
    base = tempfile.mkdtemp(prefix="sluice-ui-")
    s = Sluice(os.path.join(base, "data"))
    s.start()
    yield s
    s.stop()
    shutil.rmtree(base, ignore_errors=True)


def run_phase(node, server, phase, shots, **extra):
    env = dict(os.environ)
    env.update(
        SLUICE_ENDPOINT=server.endpoint,
        SLUICE_ACCESS_KEY_ID=ACCESS_KEY,
        SLUICE_SECRET_ACCESS_KEY=SECRET_KEY,
        UI_PHASE=str(phase),
        SCREENSHOT_DIR=str(shots),
        PLAYWRIGHT_CORE=str(PLAYWRIGHT),
        CHROMIUM=CHROMIUM,
        **extra,
    )
    started = time.monotonic()
    done = subprocess.run([node, str(HERE / "ui" / "walkthrough.mjs")], env=env, capture_output=True,
                          text=True, timeout=900)
    took = time.monotonic() - started
    print(done.stdout)
    print(done.stderr)
    print(f"browser phase {phase}: {took:.1f} s (exit {done.returncode})")
    assert done.returncode == 0, f"phase {phase} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return took


def rows(server, ref):
    r = server.api("GET", f"/repositories/example/refs/{ref}/rows?prefix=reviews/")
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def test_walkthrough_in_the_browser(server):
    node = browser_tools()
    work = Path(tempfile.mkdtemp(prefix="sluice-ui-walkthrough-"))
    shots = work / "screenshots"
    shots.mkdir()
    print(f"screenshots: {shots}")
    reviews_file = work / "part-00000.parquet"
    pq.write_table(reviews(0, ROWS), reviews_file)
    action_file = work / "reviews_gate.yaml"
    action_file.write_text(ACTION_FILE)
    started = time.monotonic()

    run_phase(node, server, 1, shots, REVIEWS_PARQUET=str(reviews_file), ACTION_FILE=str(action_file))
    assert rows(server, "main") == ROWS

    # The accidental append, outside the UI: the same rows again on double-branch through S3.
    server.s3().put_object(Bucket="example", Key="double-branch/reviews/part-00001.parquet",
                           Body=reviews_file.read_bytes())
    server.commit("example", "double-branch", "Append the reviews again")
    assert rows(server, "double-branch") == 2 * ROWS

    run_phase(node, server, 2, shots)
    assert rows(server, "main") == ROWS
    main = server.api("GET", "/repositories/example/refs/main/commits").json()["results"]
    assert all(len(c["parents"]) < 2 for c in main), "the refused merge left a merge commit"
    print(f"browser walkthrough: {time.monotonic() - started:.1f} s; screenshots in {shots}")
    assert len(list(shots.glob("*.png"))) >= 15


def test_root_sends_a_browser_to_the_ui_and_stays_s3_for_signed_requests(server):
    r = requests.get(server.endpoint + "/", allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["location"] == "/ui/repositories"
    r = requests.get(server.endpoint + "/ui/repositories", allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    assert "Buckets" in server.s3().list_buckets()
