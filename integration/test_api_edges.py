"""Edges of the REST API and the CLI that once went wrong: a Range header at the edge of
u64 (it panicked the server), listings with a prefix across several pages (pages came back
empty while matches remained), `count --verify` over a damaged file (it said verified), and
a key pair changed in the environment after the first start (it was silently ignored)."""

import json
import os
import shutil
import subprocess
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from conftest import ACCESS_KEY, SECRET_KEY, Sluice, sluice_binary

pytestmark = pytest.mark.client("rest api")


def test_range_at_the_edge_of_u64(sluice, repo):
    body = os.urandom(100_000)
    sluice.s3().put_object(Bucket=repo, Key="main/blob.bin", Body=body)
    url = f"{sluice.endpoint}/api/v1/repositories/{repo}/refs/main/objects?path=blob.bin"
    auth = (ACCESS_KEY, SECRET_KEY)
    r = requests.get(url, headers={"Range": "bytes=0-18446744073709551615"}, auth=auth, timeout=30)
    assert r.status_code == 206, r.text
    assert r.content == body
    assert r.headers["Content-Range"] == f"bytes 0-{len(body) - 1}/{len(body)}"
    for bad in ["bytes=18446744073709551615-", "bytes=5-4", "bytes=x-y", "bytes=-", "items=0-1"]:
        r = requests.get(url, headers={"Range": bad}, auth=auth, timeout=30)
        assert r.status_code == 416, (bad, r.status_code)
    r = requests.get(url, headers={"Range": "bytes=-18446744073709551615"}, auth=auth, timeout=30)
    assert r.status_code == 206 and r.content == body
    # The server is alive and well after all of them.
    assert sluice.api("GET", "/healthcheck").status_code == 204


def all_pages(sluice, path, **params):
    names, after = [], ""
    while True:
        query = "&".join([f"amount=3", f"after={after}"] + [f"{k}={v}" for k, v in params.items()])
        r = sluice.api("GET", f"{path}?{query}")
        assert r.status_code == 200, r.text
        page = r.json()
        results = [x["id"] for x in page["results"]]
        if page["pagination"]["has_more"]:
            assert len(results) == 3, f"a short page with more to come: {page}"
        names += results
        if not page["pagination"]["has_more"]:
            return names
        after = page["pagination"]["next_offset"]


def test_listings_page_with_a_prefix(sluice, repo):
    for i in range(10):
        sluice.create_branch(repo, f"aaa-{i}")
        sluice.create_branch(repo, f"team-{i}")
        assert sluice.api("POST", f"/repositories/{repo}/tags", {"id": f"v{i}", "ref": "main"}).status_code == 201
    assert all_pages(sluice, f"/repositories/{repo}/branches", prefix="team-") == [f"team-{i}" for i in range(10)]
    assert all_pages(sluice, f"/repositories/{repo}/tags", prefix="v") == [f"v{i}" for i in range(10)]
    # Repositories: made here so that several pages match the prefix.
    s3 = sluice.s3()
    stem = repo.replace("repo-", "pg-")
    for i in range(7):
        s3.create_bucket(Bucket=f"{stem}-{i}")
    assert all_pages(sluice, "/repositories", prefix=stem) == [f"{stem}-{i}" for i in range(7)]


def test_count_verify_reports_failed_files(sluice, repo):
    table = pa.table({"id": pa.array(range(20_000), pa.int64()), "v": pa.array([f"value-{i}" for i in range(20_000)])})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=5_000, compression="none")
    good = sink.getvalue().to_pybytes()
    damaged = bytearray(good)
    # Page headers and data overwritten, the footer intact: only decoding notices.
    damaged[4:len(good) // 2] = b"\xa5" * (len(good) // 2 - 4)
    s3 = sluice.s3()
    s3.put_object(Bucket=repo, Key="main/t/good.parquet", Body=good)
    s3.put_object(Bucket=repo, Key="main/t/damaged.parquet", Body=bytes(damaged))
    env = dict(os.environ, SLUICE_ENDPOINT=sluice.endpoint,
               SLUICE_ACCESS_KEY_ID=ACCESS_KEY, SLUICE_SECRET_ACCESS_KEY=SECRET_KEY)
    r = subprocess.run([sluice_binary(), "count", f"sluice://{repo}/main/t", "--verify", "--json"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0, "a failed verification must fail the command"
    report = json.loads(r.stdout)
    assert report["verified"] is False, report
    assert report["verified_files"] == 1 and report["rows"] == 20_000
    assert [p["path"] for p in report["problems"]] == ["t/damaged.parquet"]
    ok = subprocess.run([sluice_binary(), "count", f"sluice://{repo}/main/t/good.parquet", "--verify", "--json"],
                        env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["verified"] is True


def test_a_new_key_pair_in_the_environment_replaces_the_stored_one():
    base = tempfile.mkdtemp(prefix="sluice-keys-")
    server = Sluice(os.path.join(base, "data"))
    try:
        server.start()
        assert server.api("GET", "/repositories").status_code == 200
        server.stop()
        new = ("AKSLUICENEWKEY000002", "another-secret-key-0123456789abcdefghijk")
        server.keys = new
        server.start()
        assert server.api("GET", "/repositories", auth=new).status_code == 200
        assert server.api("GET", "/repositories").status_code == 401
        assert "replacing the stored one" in server.log_path.read_text()
        with open(os.path.join(base, "data", "credentials.json")) as f:
            assert json.load(f)["access_key_id"] == new[0]
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_commits_racing_merges_through_the_api(sluice, repo):
    """Committers on main and mergers into main at once, through the API: every write ends
    on main and every acknowledged commit stays reachable from its head."""
    import threading

    acknowledged, errors = [], []
    lock = threading.Lock()

    def upload(branch, path):
        r = requests.post(f"{sluice.endpoint}/api/v1/repositories/{repo}/branches/{branch}/objects",
                          params={"path": path}, data=path.encode(), auth=(ACCESS_KEY, SECRET_KEY), timeout=60)
        assert r.status_code == 201, r.text

    def committer(t):
        try:
            for i in range(6):
                upload("main", f"direct-{t}/{i}")
                r = sluice.api("POST", f"/repositories/{repo}/branches/main/commits", {"message": "direct"})
                if r.status_code == 201:
                    with lock:
                        acknowledged.append(r.json()["id"])
                else:
                    # Another committer took this write, or kept winning the race.
                    assert r.status_code in (400, 409), r.text
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    def merger(t):
        try:
            branch = f"feature-{t}"
            sluice.create_branch(repo, branch)
            for n in range(3):
                upload(branch, f"{branch}/file-{n}")
                with lock:
                    acknowledged.append(sluice.commit(repo, branch, "work"))
                for _ in range(2000):
                    r = sluice.api("POST", f"/repositories/{repo}/refs/{branch}/merge/main", {})
                    if r.status_code == 200:
                        with lock:
                            acknowledged.append(r.json()["reference"])
                        break
                    # Main holds uncommitted writes for a moment: try again.
                    assert r.status_code == 409, r.text
                else:
                    raise AssertionError("the merge never found main without uncommitted writes")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=committer, args=(t,)) for t in range(3)]
    threads += [threading.Thread(target=merger, args=(t,)) for t in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    r = sluice.api("POST", f"/repositories/{repo}/branches/main/commits", {"message": "rest"})
    assert r.status_code in (201, 400), r.text
    listed = sluice.api("GET", f"/repositories/{repo}/refs/main/objects/ls?amount=1000").json()["results"]
    assert len(listed) == 3 * 6 + 3 * 3
    log = sluice.api("GET", f"/repositories/{repo}/refs/main/commits?amount=1000").json()
    assert not log["pagination"]["has_more"]
    reachable = {c["id"] for c in log["results"]}
    assert set(acknowledged) <= reachable, set(acknowledged) - reachable


def test_object_download_last_modified_304_and_repository_search(sluice, repo):
    """lakeFS answers object GET/HEAD with Last-Modified and a 304 for a current ETag, and
    listRepositories filters by `search`."""
    import email.utils

    sluice.s3().put_object(Bucket=repo, Key="main/c.txt", Body=b"cached")
    url = f"{sluice.endpoint}/api/v1/repositories/{repo}/refs/main/objects?path=c.txt"
    auth = (ACCESS_KEY, SECRET_KEY)
    first = requests.get(url, auth=auth, timeout=30)
    assert first.status_code == 200 and first.content == b"cached"
    assert email.utils.parsedate_to_datetime(first.headers["Last-Modified"]).year >= 2024
    again = requests.get(url, auth=auth, headers={"If-None-Match": first.headers["ETag"]}, timeout=30)
    assert again.status_code == 304 and again.content == b""
    head = requests.head(url, auth=auth, headers={"If-None-Match": '"other"'}, timeout=30)
    assert head.status_code == 200 and "Last-Modified" in head.headers
    middle = repo[5:12]
    found = sluice.api("GET", f"/repositories?search={middle}").json()["results"]
    assert [r["id"] for r in found] == [repo]
