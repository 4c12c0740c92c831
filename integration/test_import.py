"""Import without copying (lakeFS's importStart / importStatus / importCancel), through the
`sluice import` command and lakeFS's high-level SDK unchanged: 10,000 local files land as one
commit and Sluice's data folder does not grow; an S3 prefix on a real S3 server (moto)
imports the same way; garbage collection never deletes a source; bad sources are refused
in the API's own form."""

import hashlib
import json
import os
import subprocess
import time
import uuid

import lakefs
import pytest
from lakefs.client import Client

from conftest import ACCESS_KEY, SECRET_KEY, Sluice, sluice_binary

FILES = 10_000


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A folder that the sidecar may import from, with 10,000 small files."""
    root = tmp_path_factory.mktemp("lake")
    for i in range(FILES):
        folder = root / "reviews" / f"day={i % 10:02}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"part-{i:05}.csv").write_bytes(f"review_id,stars\n{i},{i % 5 + 1}\n".encode())
    return root


@pytest.fixture(scope="module")
def importer(lake, s3_server, tmp_path_factory):
    """A sidecar whose config allows imports from `lake` and reaches the S3 server."""
    base = tmp_path_factory.mktemp("importer")
    config = base / "sluice.toml"
    config.write_text(f'[storage]\nimport_roots = ["{lake}"]\n' + s3_server.config_toml())
    side = Sluice(str(base / "data"))
    side.extra_args = ["--config", str(config)]
    side.start()
    yield side
    side.stop()


def cli(side, *args, ok=True):
    env = dict(os.environ, SLUICE_ENDPOINT=side.endpoint,
               SLUICE_ACCESS_KEY_ID=ACCESS_KEY, SLUICE_SECRET_ACCESS_KEY=SECRET_KEY)
    r = subprocess.run([sluice_binary(), *args], env=env, capture_output=True, text=True, timeout=600)
    if ok:
        assert r.returncode == 0, f"{args}: {r.stderr}"
        return r.stdout
    assert r.returncode != 0, f"{args} should fail"
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def folder_bytes(path) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def new_repo(side) -> str:
    name = f"imp-{uuid.uuid4().hex[:10]}"
    side.s3().create_bucket(Bucket=name)
    return name


@pytest.mark.client("sluice cli")
def test_ten_thousand_local_files_land_as_one_commit_without_copying(importer, lake):
    repo = new_repo(importer)
    s3 = importer.s3()
    s3.put_object(Bucket=repo, Key="main/tables/reviews/stale.csv", Body=b"old")
    importer.api("POST", f"/repositories/{repo}/branches/main/commits", json={"message": "seed"})
    storage = os.path.join(importer.data_dir, "storage")
    before_bytes = folder_bytes(storage)
    head_before = importer.api("GET", f"/repositories/{repo}/branches/main").json()["commit_id"]

    out = json.loads(cli(importer, "import", str(lake / "reviews"), f"sluice://{repo}/main/tables/reviews",
                         "-m", "import reviews", "--meta", "source=lake", "--json"))
    assert out["completed"] is True and out["ingested_objects"] == FILES, out
    commit = out["commit"]
    assert commit["message"] == "import reviews" and commit["metadata"] == {"source": "lake"}
    assert commit["parents"] == [head_before]
    log = importer.api("GET", f"/repositories/{repo}/refs/main/commits?amount=3").json()["results"]
    assert [c["message"] for c in log[:2]] == ["import reviews", "seed"]

    # Every object is there; the stale one is replaced; no byte was copied.
    keys, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=repo, Prefix="main/tables/reviews/", **kw)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            break
        token = page["NextContinuationToken"]
    assert len(keys) == FILES
    assert "main/tables/reviews/stale.csv" not in keys
    assert folder_bytes(storage) == before_bytes
    for i in (0, 4321, FILES - 1):
        key = f"main/tables/reviews/day={i % 10:02}/part-{i:05}.csv"
        body = s3.get_object(Bucket=repo, Key=key)["Body"].read()
        assert body == f"review_id,stars\n{i},{i % 5 + 1}\n".encode()
        head = s3.head_object(Bucket=repo, Key=key)
        assert head["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        ranged = s3.get_object(Bucket=repo, Key=key, Range="bytes=0-8")["Body"].read()
        assert ranged == b"review_id"

    # A branch shares the imported entries; GC with no grace deletes none of the sources.
    importer.api("POST", f"/repositories/{repo}/branches", json={"name": "dev", "source": "main"})
    gc = json.loads(cli(importer, "gc", repo, "--grace-seconds", "0", "--json"))
    assert gc["deleted"] == 0, gc
    assert sum(len(fs) for _, _, fs in os.walk(lake / "reviews")) == FILES
    body = s3.get_object(Bucket=repo, Key="dev/tables/reviews/day=07/part-00007.csv")["Body"].read()
    assert body == b"review_id,stars\n7,3\n"

    # The high-level lakeFS SDK imports the same 10,000 files unchanged, as one commit.
    client = Client(host=importer.endpoint, username=ACCESS_KEY, password=SECRET_KEY)
    other = lakefs.Repository(f"sdk-{repo}", client=client).create(storage_namespace=f"local://sdk-{repo}")
    before_bytes = folder_bytes(storage)
    status = other.branch("main").import_data(commit_message="import via sdk") \
        .prefix(f"file://{lake}/reviews/", destination="reviews/").run()
    assert status.completed and status.ingested_objects == FILES
    assert other.branch("main").get_commit().id == status.commit.id
    assert [c.message for c in other.branch("main").log(max_amount=2)][0] == "import via sdk"
    assert other.branch("main").object("reviews/day=05/part-00005.csv").reader().read() == \
        b"review_id,stars\n5,1\n"
    assert folder_bytes(storage) == before_bytes

    # One file imports as one object.
    single = lake / "reviews" / "day=03" / "part-00003.csv"
    cli(importer, "import", str(single), f"sluice://{repo}/main/one/")
    assert s3.get_object(Bucket=repo, Key="main/one/part-00003.csv")["Body"].read() == single.read_bytes()


@pytest.mark.client("lakefs sdk")
def test_the_high_level_sdk_imports_an_s3_prefix(importer, s3_server):
    source = f"src-{uuid.uuid4().hex[:8]}"
    bucket = s3_server.client()
    bucket.create_bucket(Bucket=source)
    for i in range(120):
        bucket.put_object(Bucket=source, Key=f"raw/events/e-{i:03}.json", Body=f'{{"n": {i}}}'.encode())
    bucket.put_object(Bucket=source, Key="raw/other/x.json", Body=b"{}")
    client = Client(host=importer.endpoint, username=ACCESS_KEY, password=SECRET_KEY)
    name = f"sdk-imp-{uuid.uuid4().hex[:8]}"
    repo = lakefs.Repository(name, client=client).create(storage_namespace=f"local://{name}")
    main = repo.branch("main")
    manager = main.import_data(commit_message="import events", metadata={"team": "a"})
    manager.prefix(f"s3://{source}/raw/events/", destination="events/")
    manager.object(f"s3://{source}/raw/other/x.json", destination="other.json")
    status = manager.run()
    assert status.completed and status.ingested_objects == 121
    assert status.commit.message == "import events"
    assert main.get_commit().id == status.commit.id
    assert main.object("events/e-042.json").reader().read() == b'{"n": 42}'
    assert main.object("other.json").reader().read() == b"{}"
    assert len(list(main.objects(prefix="events/"))) == 120
    # Cancelling a completed import is a conflict, as lakeFS answers it.
    with pytest.raises(lakefs.exceptions.ConflictException):
        manager.cancel()
    # The source bucket is unchanged after GC.
    importer.api("POST", f"/repositories/{name}/gc", json={"grace_seconds": 0})
    assert bucket.list_objects_v2(Bucket=source)["KeyCount"] == 121


@pytest.mark.client("rest api")
def test_bad_imports_are_refused_in_the_apis_own_form(importer, lake, tmp_path):
    repo = new_repo(importer)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("x")

    def start(path, kind="common_prefix", branch="main"):
        return importer.api("POST", f"/repositories/{repo}/branches/{branch}/import", json={
            "paths": [{"type": kind, "path": path, "destination": "x/"}],
            "commit": {"message": "m"}})

    r = start(f"file://{outside}/")
    assert r.status_code == 403 and "import_roots" in r.json()["message"], r.text
    assert start("file:///etc/").status_code == 403
    assert start("ftp://host/x").status_code == 400
    assert start(f"file://{lake}/reviews/", kind="folder").status_code == 400
    assert start(f"file://{lake}/missing/").status_code == 404
    assert start(f"file://{lake}/reviews/", branch="nope").status_code == 404
    r = importer.api("GET", f"/repositories/{repo}/branches/main/import")
    assert r.status_code == 400 and "id" in r.json()["message"]
    assert importer.api("GET", f"/repositories/{repo}/branches/main/import?id=nope").status_code == 404
    assert importer.api("DELETE", f"/repositories/{repo}/branches/main/import?id=nope").status_code == 404
    # The CLI says the same in one line with a non-zero exit.
    err = cli(importer, "import", str(outside), f"sluice://{repo}/main/x/", ok=False)
    assert "403" in err and "import_roots" in err, err
    # Nothing landed on the branch.
    listed = importer.s3().list_objects_v2(Bucket=repo, Prefix="main/")
    assert listed["KeyCount"] == 0


def _s3_keys(s3, repo, prefix):
    keys, token = [], None
    while True:
        extra = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=repo, Prefix=prefix, **extra)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return keys
        token = page["NextContinuationToken"]


def _uncommitted(side, repo, branch):
    changes, after = [], ""
    while True:
        r = side.api("GET", f"/repositories/{repo}/branches/{branch}/diff?amount=1000&after={after}")
        assert r.status_code == 200, r.text
        body = r.json()
        changes += [(d["path"], d["type"]) for d in body["results"]]
        if not body["pagination"]["has_more"]:
            return changes
        after = body["pagination"]["next_offset"]


@pytest.mark.client("boto3")
def test_a_spark_style_overwrite_of_ten_thousand_files_lists_diffs_and_commits(importer, lake):
    """10,000 deletions in DeleteObjects batches start a background fold of the branch's
    staged changes; before, during and after it, boto3's listing, the lakeFS-shaped diff and
    the commit see exactly the overwrite."""
    repo = new_repo(importer)
    s3 = importer.s3()
    out = json.loads(cli(importer, "import", str(lake / "reviews"), f"sluice://{repo}/main/t/",
                         "-m", "table", "--json"))
    assert out["completed"] is True and out["ingested_objects"] == FILES, out
    old = _s3_keys(s3, repo, "main/t/")
    assert len(old) == FILES
    s3.put_object(Bucket=repo, Key="main/keep.txt", Body=b"kept")
    # The overwrite: delete every old file, 1,000 per request, then write the new output.
    for start in range(0, FILES, 1000):
        batch = [{"Key": k} for k in old[start:start + 1000]]
        r = s3.delete_objects(Bucket=repo, Delete={"Objects": batch, "Quiet": True})
        assert not r.get("Errors"), r
    new = [f"main/t/part-new-{i:03}.parquet" for i in range(5)]
    for key in new:
        s3.put_object(Bucket=repo, Key=key, Body=key.encode())
    expected_diff = sorted([(k[len("main/"):], "removed") for k in old]
                           + [(k[len("main/"):], "added") for k in new] + [("keep.txt", "added")])
    folded = False
    for _ in range(40):
        assert _s3_keys(s3, repo, "main/t/") == new
        assert _s3_keys(s3, repo, "main/t/part-0") == []
        assert sorted(_uncommitted(importer, repo, "main")) == expected_diff
        if folded:
            break
        folded = any("folded the branch's staged changes" in line and repo in line
                     for line in importer.log_path.read_text(errors="replace").splitlines())
        time.sleep(0.25)
    assert folded, "the deletions were folded in the background"
    # Staged after the fold, and the whole commits as one.
    s3.delete_object(Bucket=repo, Key=new[0])
    r = importer.api("POST", f"/repositories/{repo}/branches/main/commits", json={"message": "overwrite"})
    assert r.status_code == 201, r.text
    assert _uncommitted(importer, repo, "main") == []
    assert _s3_keys(s3, repo, "main/") == ["main/keep.txt"] + new[1:]
    assert s3.get_object(Bucket=repo, Key=new[1])["Body"].read() == new[1].encode()
