"""Several sidecars, one truth: two `sluice run` processes on one PostgreSQL and one S3
server (moto), each with only caches in its own data dir.

Read-after-write across sidecars, concurrent commits and merges through both, a multipart
upload split across them, a sidecar killed mid-upload, backends lost and regained while
running, and backends unreachable at start.
"""

import concurrent.futures
import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, Cluster, Sluice, sluice_binary
from services import Relay

pytestmark = pytest.mark.client("scale-out")


@pytest.fixture(scope="module")
def pair(postgres, s3_server, tmp_path_factory):
    cluster = Cluster(str(tmp_path_factory.mktemp("pair")), postgres, s3_server, f"pair_{uuid.uuid4().hex[:8]}")
    cluster.start()
    yield cluster
    cluster.stop()
    cluster.balancer.close()


def new_repo(sidecar) -> str:
    name = f"repo-{uuid.uuid4().hex[:10]}"
    sidecar.s3().create_bucket(Bucket=name)
    return name


def body(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def get(sidecar, repo, key) -> bytes:
    return sidecar.s3().get_object(Bucket=repo, Key=key)["Body"].read()


def test_writes_through_one_are_read_through_the_other_at_once(pair, s3_server):
    a, b = pair.sidecars
    repo = new_repo(a)
    info = b.api("GET", f"/repositories/{repo}").json()
    assert info["storage_namespace"] == f"s3://{pair.bucket}/repos/{repo}", info
    # The CLI's default namespace is the server's too.
    env = dict(os.environ, SLUICE_ENDPOINT=a.endpoint, SLUICE_ACCESS_KEY_ID=ACCESS_KEY,
               SLUICE_SECRET_ACCESS_KEY=SECRET_KEY)
    made = subprocess.run([sluice_binary(), "repo", "create", f"sluice://{repo}-cli", "--json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["storage_namespace"] == f"s3://{pair.bucket}/repos/{repo}-cli", made.stdout

    sizes = [10, 40_000, 300_000]
    for i in range(30):
        key = f"main/raw/k{i:03}"
        data = body(sizes[i % 3], i)
        writer, reader = (a, b) if i % 2 == 0 else (b, a)
        writer.s3().put_object(Bucket=repo, Key=key, Body=data)
        assert get(reader, repo, key) == data, f"{key} read through the other sidecar"
    big = body(9 * 1024 * 1024, 99)
    a.s3().put_object(Bucket=repo, Key="main/raw/big", Body=big)
    assert get(b, repo, "main/raw/big") == big

    listed = b.s3().list_objects_v2(Bucket=repo, Prefix="main/raw/")["Contents"]
    assert len(listed) == 31
    b.s3().delete_object(Bucket=repo, Key="main/raw/k000")
    with pytest.raises(ClientError) as e:
        a.s3().head_object(Bucket=repo, Key="main/raw/k000")
    assert e.value.response["Error"]["Code"] in ("404", "NoSuchKey")

    # Branch on one, write and commit through the other, merge back through the first.
    b.commit(repo, "main", "raw")
    a.create_branch(repo, "dev")
    b.s3().put_object(Bucket=repo, Key="dev/new.txt", Body=b"from b")
    commit = a.commit(repo, "dev", "through a")
    log = b.api("GET", f"/repositories/{repo}/refs/dev/commits").json()["results"]
    assert log[0]["id"] == commit
    r = b.api("POST", f"/repositories/{repo}/refs/dev/merge/main", {"message": "merge"})
    assert r.status_code == 200, r.text
    assert get(a, repo, "main/new.txt") == b"from b"

    # The bytes are in the bucket under the namespace; the sidecars keep no object data.
    stored = s3_server.client().list_objects_v2(Bucket=pair.bucket, Prefix=f"repos/{repo}/data/")
    assert stored["KeyCount"] >= 21, stored.get("KeyCount")
    for s in pair.sidecars:
        local = os.path.join(s.data_dir, "storage")
        files = [f for _, _, fs in os.walk(local) for f in fs] if os.path.isdir(local) else []
        assert files == [], f"{s.data_dir} holds object data: {files[:5]}"


def with_retries(call, attempts=20):
    """Commits and merges racing on one branch may be told to try again (409/503)."""
    for attempt in range(attempts):
        r = call()
        if r.status_code not in (409, 503) or "conflict" in r.text.lower() and "changing" not in r.text:
            return r
        time.sleep(0.05 * (attempt + 1))
    return r


def test_eight_clients_commit_and_merge_through_both_and_lose_nothing(pair):
    a, b = pair.sidecars
    repo = new_repo(a)
    a.s3().put_object(Bucket=repo, Key="main/seed", Body=b"seed")
    a.commit(repo, "main", "seed")
    expected = {"seed": b"seed"}
    lock = threading.Lock()

    def client(n: int):
        mine, other = pair.sidecars[n % 2], pair.sidecars[(n + 1) % 2]
        branch = f"c{n}"
        mine.create_branch(repo, branch)
        for round_ in range(3):
            written = {}
            for j in range(4):
                key = f"c{n}/r{round_}/o{j}"
                data = body(100 + 5000 * j, n * 100 + round_ * 10 + j)
                (mine if j % 2 else other).s3().put_object(Bucket=repo, Key=f"{branch}/{key}", Body=data)
                written[key] = data
            r = with_retries(lambda: other.api("POST", f"/repositories/{repo}/branches/{branch}/commits",
                                               {"message": f"{branch} round {round_}"}))
            assert r.status_code == 201, r.text
            r = with_retries(lambda: mine.api("POST", f"/repositories/{repo}/refs/{branch}/merge/main",
                                              {"message": f"merge {branch} {round_}"}))
            assert r.status_code == 200, r.text
            # Straight to main too, committed through the other sidecar.
            key = f"direct/c{n}-{round_}"
            mine.s3().put_object(Bucket=repo, Key=f"main/{key}", Body=key.encode())
            r = with_retries(lambda: other.api("POST", f"/repositories/{repo}/branches/main/commits",
                                               {"message": f"direct {n} {round_}"}))
            # Another client's commit may have taken this write in already.
            assert r.status_code in (201, 400), r.text
            with lock:
                expected.update(written)
                expected[key] = key.encode()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for f in [pool.submit(client, n) for n in range(8)]:
            f.result()
    r = with_retries(lambda: a.api("POST", f"/repositories/{repo}/branches/main/commits", {"message": "rest"}))
    assert r.status_code in (201, 400), r.text

    for reader in pair.sidecars:
        keys = []
        token = None
        while True:
            kw = {"ContinuationToken": token} if token else {}
            page = reader.s3().list_objects_v2(Bucket=repo, Prefix="main/", **kw)
            keys += [o["Key"][len("main/"):] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                break
            token = page["NextContinuationToken"]
        assert sorted(keys) == sorted(expected), set(expected) ^ set(keys)
    for key, data in random.Random(1).sample(sorted(expected.items()), 20):
        assert get(b, repo, f"main/{key}") == data
    # Everything is committed: main has no uncommitted change left.
    diff = a.api("GET", f"/repositories/{repo}/branches/main/diff").json()["results"]
    assert diff == [], diff


def test_a_multipart_upload_split_across_sidecars(pair):
    a, b = pair.sidecars
    repo = new_repo(b)
    key = "main/big/parts.bin"
    upload = a.s3().create_multipart_upload(Bucket=repo, Key=key)["UploadId"]
    p1, p2 = body(5 * 1024 * 1024, 1), body(123_456, 2)
    e1 = a.s3().upload_part(Bucket=repo, Key=key, UploadId=upload, PartNumber=1, Body=p1)["ETag"]
    e2 = b.s3().upload_part(Bucket=repo, Key=key, UploadId=upload, PartNumber=2, Body=p2)["ETag"]
    parts = b.s3().list_parts(Bucket=repo, Key=key, UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2]
    done = b.s3().complete_multipart_upload(
        Bucket=repo, Key=key, UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert done["ETag"].strip('"').endswith("-2")
    assert get(a, repo, key) == p1 + p2


def test_a_sidecar_killed_mid_upload_loses_no_acknowledged_write(pair):
    a, b = pair.sidecars
    repo = new_repo(a)
    acked = {}
    stop = threading.Event()

    def writer(sidecar, name):
        s3 = sidecar.s3()
        i = 0
        while not stop.is_set():
            key = f"main/{name}/k{i:05}"
            data = body(1000 if i % 2 else 400_000, hash(key) & 0xffff)
            try:
                s3.put_object(Bucket=repo, Key=key, Body=data)
            except Exception:
                if sidecar is a:
                    return  # a is gone: its unacknowledged write may or may not exist
                raise
            acked[key] = data
            i += 1

    threads = [threading.Thread(target=writer, args=(s, n)) for s, n in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while sum(1 for k in acked if "/a/" in k) < 30 and time.time() < deadline:
        time.sleep(0.05)
    a.stop(signal.SIGKILL)
    time.sleep(1)  # b keeps serving meanwhile
    stop.set()
    for t in threads:
        t.join()
    assert sum(1 for k in acked if "/b/" in k) > 0
    for key, data in acked.items():
        assert get(b, repo, key) == data, f"acknowledged {key} lost"
    b.s3().put_object(Bucket=repo, Key="main/after", Body=b"still serving")
    b.commit(repo, "main", "after the kill")
    a.start()
    assert get(a, repo, "main/after") == b"still serving"


def test_backends_lost_while_running_answer_503_and_recover(postgres, s3_server, tmp_path):
    pg_relay = Relay(postgres.port)
    s3_relay = Relay(s3_server.port)
    bucket = f"outage-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    config = tmp_path / "sluice.toml"
    config.write_text(f'[storage]\ndefault_namespace_prefix = "s3://{bucket}/"\n'
                      + s3_server.config_toml(endpoint=f"http://127.0.0.1:{s3_relay.port}"))
    database = postgres.create_database(f"outage_{uuid.uuid4().hex[:8]}")
    side = Sluice(str(tmp_path / "data"))
    side.extra_args = ["--metadata", postgres.url(database.rsplit("/", 1)[1], port=pg_relay.port),
                       "--config", str(config)]
    side.start()
    try:
        repo = new_repo(side)
        big = body(200_000, 5)
        side.s3().put_object(Bucket=repo, Key="main/big", Body=big)
        side.s3().put_object(Bucket=repo, Key="main/small", Body=b"small")

        # PostgreSQL gone: S3 and REST requests answer 503, nothing is half-written.
        pg_relay.cut()
        with pytest.raises(ClientError) as e:
            side.s3().get_object(Bucket=repo, Key="main/small")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert e.value.response["Error"]["Code"] in ("ServiceUnavailable", "SlowDown")
        with pytest.raises(ClientError) as e:
            side.s3().put_object(Bucket=repo, Key="main/during-pg-outage", Body=big)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert side.api("GET", f"/repositories/{repo}/branches/main").status_code == 503
        pg_relay.restore()
        assert get(side, repo, "main/small") == b"small"

        # S3 gone: object bytes cannot be read or written; metadata still answers.
        s3_relay.cut()
        with pytest.raises(ClientError) as e:
            side.s3().put_object(Bucket=repo, Key="main/during-s3-outage", Body=big)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        with pytest.raises(ClientError) as e:
            side.s3().get_object(Bucket=repo, Key="main/big")["Body"].read()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert side.api("GET", f"/repositories/{repo}/branches/main").status_code == 200
        s3_relay.restore()

        # Back: both refused writes left nothing visible; everything else is intact.
        keys = sorted(o["Key"] for o in side.s3().list_objects_v2(Bucket=repo, Prefix="main/")["Contents"])
        assert keys == ["main/big", "main/small"], keys
        assert get(side, repo, "main/big") == big
        side.s3().put_object(Bucket=repo, Key="main/after", Body=big)
        assert get(side, repo, "main/after") == big
    finally:
        side.stop()
        pg_relay.close()
        s3_relay.close()


def run_expecting_failure(args, tmp_path, timeout=60):
    start = time.time()
    r = subprocess.run([sluice_binary(), "run", "--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:0", *args],
                       capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "SLUICE_ACCESS_KEY_ID": "AKSLUICETESTKEY00001",
                            "SLUICE_SECRET_ACCESS_KEY": "sluice-test-secret-key-0123456789abcdefgh"})
    assert r.returncode != 0, r.stdout
    assert "listening" not in r.stdout
    errors = [l for l in r.stderr.splitlines() if l.startswith("sluice: ")]
    assert len(errors) == 1, r.stderr
    return errors[0], time.time() - start


def test_unreachable_backends_at_start_are_one_line_errors(postgres, s3_server, tmp_path):
    from services import free_port
    closed = free_port()
    line, took = run_expecting_failure(["--metadata", f"postgres://sluice@127.0.0.1:{closed}/nowhere"], tmp_path)
    assert "PostgreSQL" in line and f"127.0.0.1:{closed}" in line, line
    assert took < 30
    line, _ = run_expecting_failure(["--metadata", "mysql://x@y/z"], tmp_path)
    assert "postgres://" in line, line

    database = postgres.create_database(f"start_{uuid.uuid4().hex[:8]}")
    config = tmp_path / "sluice.toml"
    config.write_text('[storage]\ndefault_namespace_prefix = "s3://nowhere-bucket/"\n'
                      + s3_server.config_toml(endpoint=f"http://127.0.0.1:{closed}"))
    line, took = run_expecting_failure(["--metadata", database, "--config", str(config)], tmp_path)
    assert "S3" in line and "nowhere-bucket" in line, line
    assert took < 45


def test_a_web_ui_session_started_on_one_sidecar_works_on_the_other(pair):
    """Sessions live in the shared metadata store: a balancer needs no affinity."""
    import requests
    a, b = pair.sidecars
    repo = new_repo(a)
    r = requests.post(f"{a.endpoint}/ui/login", data={"access_key_id": a.keys[0], "secret_access_key": a.keys[1]},
                      allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"].split(";")[0]
    page = requests.get(f"{b.endpoint}/ui/repositories", headers={"Cookie": cookie}, allow_redirects=False, timeout=30)
    assert page.status_code == 200 and repo in page.text, page.status_code
    # Signing out through b ends the session on a too.
    import re
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    out = requests.post(f"{b.endpoint}/ui/logout", data={"csrf": csrf}, headers={"Cookie": cookie},
                        allow_redirects=False, timeout=30)
    assert out.status_code == 303
    again = requests.get(f"{a.endpoint}/ui/repositories", headers={"Cookie": cookie}, allow_redirects=False, timeout=30)
    assert again.status_code in (303, 302, 401), again.status_code


def test_presigned_and_direct_writes_bypass_the_sidecars(pair, s3_server):
    """lakeFS's staging API on an s3:// namespace: the high-level SDK's pre-signed upload and
    download, and a client writing to the bucket itself then linking the address."""
    import lakefs
    import lakefs_sdk
    import requests
    from lakefs.client import Client

    a, b = pair.sidecars
    repo = new_repo(a)
    client = Client(host=a.endpoint, username=a.keys[0], password=a.keys[1])
    assert client.storage_config.pre_sign_support is True
    main = lakefs.repository(repo, client=client).branch("main")
    data = body(300_000, 7)
    main.object("pre/x.bin").upload(data=data, pre_sign=True)
    assert get(b, repo, "main/pre/x.bin") == data, "linked through a, read through b"
    assert main.object("pre/x.bin").reader(pre_sign=True).read() == data
    stat = requests.get(f"{b.endpoint}/api/v1/repositories/{repo}/refs/main/objects/stat",
                        params={"path": "pre/x.bin", "presign": "true"}, auth=a.keys, timeout=30).json()
    assert stat["physical_address"].startswith(s3_server.endpoint) and "X-Amz-Signature" in stat["physical_address"]
    assert requests.get(stat["physical_address"], timeout=30).content == data

    # Without pre-signing: the client writes to the bucket with its own credentials.
    sdk = lakefs_sdk.ApiClient(lakefs_sdk.Configuration(host=f"{b.endpoint}/api/v1",
                                                        username=a.keys[0], password=a.keys[1]))
    staging = lakefs_sdk.StagingApi(sdk)
    where = staging.get_physical_address(repo, "main", "direct/y.bin")
    bucket, key = where.physical_address.removeprefix("s3://").split("/", 1)
    assert bucket == pair.bucket and key.startswith(f"repos/{repo}/data/")
    direct = body(50_000, 8)
    etag = s3_server.client().put_object(Bucket=bucket, Key=key, Body=direct)["ETag"]
    bad = lakefs_sdk.StagingMetadata(staging=where, checksum=etag, size_bytes=len(direct) + 1)
    with pytest.raises(lakefs_sdk.exceptions.BadRequestException):
        staging.link_physical_address(repo, "main", "direct/y.bin", bad)
    foreign = lakefs_sdk.StagingLocation(physical_address=f"s3://{pair.bucket}/elsewhere/data/00/abc")
    with pytest.raises(lakefs_sdk.exceptions.BadRequestException):
        staging.link_physical_address(repo, "main", "direct/y.bin", lakefs_sdk.StagingMetadata(
            staging=foreign, checksum=etag, size_bytes=len(direct)))
    linked = staging.link_physical_address(repo, "main", "direct/y.bin", lakefs_sdk.StagingMetadata(
        staging=where, checksum=etag, size_bytes=len(direct), user_metadata={"by": "spark"}))
    assert linked.size_bytes == len(direct) and linked.metadata == {"by": "spark"}
    assert get(a, repo, "main/direct/y.bin") == direct
    # Create-only, as lakeFS's exclusive mode: the path exists now.
    again = staging.get_physical_address(repo, "main", "direct/y.bin")
    bucket, key = again.physical_address.removeprefix("s3://").split("/", 1)
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=b"other")
    with pytest.raises(lakefs_sdk.exceptions.ApiException) as e:
        staging.link_physical_address(repo, "main", "direct/y.bin", lakefs_sdk.StagingMetadata(
            staging=again, checksum="", size_bytes=5), if_none_match="*")
    assert e.value.status == 412
    a.commit(repo, "main", "pre-signed and direct writes")
    assert get(b, repo, "main/direct/y.bin") == direct
