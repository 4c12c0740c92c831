"""Garbage collection as users run it: `POST /api/v1/repositories/{repo}/gc` (dry run and
real), `sluice gc REPO`, and the periodic run that `sluice run`'s config file turns on."""

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ACCESS_KEY, SECRET_KEY, Sluice, sluice_binary

pytestmark = pytest.mark.client("rest api")

BIG = 100 * 1024  # larger than the inline limit: a file in the storage namespace


def cli(sluice, *args):
    env = dict(os.environ, SLUICE_ENDPOINT=sluice.endpoint,
               SLUICE_ACCESS_KEY_ID=ACCESS_KEY, SLUICE_SECRET_ACCESS_KEY=SECRET_KEY)
    return subprocess.run([sluice_binary(), *args], env=env, capture_output=True, text=True, timeout=120)


def data_files(sluice, repo):
    root = Path(sluice.data_dir) / "storage" / repo / "data"
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def orphan_two_objects(sluice, repo):
    """One large and one small object, staged then dropped: unreachable from then on."""
    s3 = sluice.s3()
    s3.put_object(Bucket=repo, Key="main/keep.bin", Body=os.urandom(BIG))
    sluice.commit(repo, "main", "keep")
    s3.put_object(Bucket=repo, Key="main/drop-big.bin", Body=os.urandom(BIG))
    s3.put_object(Bucket=repo, Key="main/drop-small.txt", Body=b"tiny")
    r = sluice.api("PUT", f"/repositories/{repo}/branches/main", {"type": "reset"})
    assert r.status_code == 204, r.text


def test_api_dry_run_then_real(sluice, repo):
    orphan_two_objects(sluice, repo)
    assert len(data_files(sluice, repo)) == 2
    # The default grace period (six hours) keeps young objects.
    r = sluice.api("POST", f"/repositories/{repo}/gc")
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["deleted"], report["too_young"], report["reachable"]) == (0, 2, 1), report
    r = sluice.api("POST", f"/repositories/{repo}/gc", {"dry_run": True, "grace_seconds": 0})
    report = r.json()
    assert (report["deleted"], report["dry_run"]) == (2, True), report
    assert report["deleted_bytes"] == BIG + 4
    assert len(data_files(sluice, repo)) == 2, "a dry run deletes nothing"
    r = sluice.api("POST", f"/repositories/{repo}/gc", {"grace_seconds": 0})
    assert r.json()["deleted"] == 2, r.text
    assert len(data_files(sluice, repo)) == 1
    assert sluice.s3().get_object(Bucket=repo, Key="main/keep.bin")["ContentLength"] == BIG
    # Bad input is a JSON error.
    r = sluice.api("POST", f"/repositories/{repo}/gc", {"dry_run": "yes"})
    assert r.status_code == 400 and "message" in r.json()
    r = sluice.api("POST", "/repositories/no-such-repo/gc", {})
    assert r.status_code == 404 and "message" in r.json()
    r = sluice.api("GET", f"/repositories/{repo}/gc")
    assert r.status_code == 405 and "message" in r.json()


def test_cli_gc(sluice, repo):
    orphan_two_objects(sluice, repo)
    dry = cli(sluice, "gc", repo, "--dry-run", "--grace-seconds", "0", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["deleted"] == 2
    human = cli(sluice, "gc", f"sluice://{repo}", "--grace-seconds", "0")
    assert human.returncode == 0 and "deleted 2 object(s)" in human.stdout, human.stdout
    assert len(data_files(sluice, repo)) == 1
    missing = cli(sluice, "gc", "no-such-repo")
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1


def test_periodic_gc_from_the_config_file():
    base = tempfile.mkdtemp(prefix="sluice-gc-")
    config = Path(base) / "sluice.toml"
    config.write_text("[gc]\ninterval_seconds = 1\ngrace_seconds = 0\n")
    server = Sluice(os.path.join(base, "data"))
    server.extra_args = ["--config", str(config)]
    server.start()
    try:
        server.s3().create_bucket(Bucket="periodic")
        orphan_two_objects(server, "periodic")
        deadline = time.time() + 30
        while time.time() < deadline and len(data_files(server, "periodic")) > 1:
            time.sleep(0.5)
        assert len(data_files(server, "periodic")) == 1
        assert server.s3().get_object(Bucket="periodic", Key="main/keep.bin")["ContentLength"] == BIG
        assert "periodic gc" in server.log_path.read_text()
    finally:
        server.stop()
    # A zero interval is refused at start, with one clear line.
    config.write_text("[gc]\ninterval_seconds = 0\n")
    r = subprocess.run([sluice_binary(), "run", "--data-dir", os.path.join(base, "data"), "--config", str(config),
                        "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "interval_seconds" in r.stderr
