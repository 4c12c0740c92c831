"""The lakeFS Python SDKs against Sluice's /api/v1: the high-level `lakefs` package and the
generated `lakefs_sdk` client run a workflow unchanged."""

import lakefs
import lakefs_sdk
import pytest
from lakefs.client import Client

from conftest import ACCESS_KEY, SECRET_KEY
from reviews import NO_DUPES_GATE, id_parquet as parquet

pytestmark = pytest.mark.client("lakefs sdk")


@pytest.fixture
def client(sluice):
    return Client(host=sluice.endpoint, username=ACCESS_KEY, password=SECRET_KEY)


def test_high_level_workflow(sluice, client):
    repo = lakefs.Repository("sdk-flow", client=client).create(storage_namespace="local://sdk-flow")
    assert repo.properties.default_branch == "main"
    main = repo.branch("main")
    main.object("data/a.csv").upload(data=b"id,v\n1,a\n")
    assert main.object("data/a.csv").reader().read() == b"id,v\n1,a\n"
    assert [c.path for c in main.uncommitted()] == ["data/a.csv"]
    first = main.commit(message="add a", metadata={"by": "test"})
    assert first.get_commit().message == "add a"

    dev = repo.branch("dev").create(source_reference="main")
    dev.object("data/b.csv").upload(data=b"id,v\n2,b\n")
    dev.commit(message="add b")
    assert [o.path for o in dev.objects(prefix="data/")] == ["data/a.csv", "data/b.csv"]
    assert [o.path for o in main.objects(prefix="data/")] == ["data/a.csv"]
    assert [d.path for d in main.diff(other_ref=dev)] == ["data/b.csv"]
    dev.merge_into(main)
    assert [o.path for o in main.objects(prefix="data/")] == ["data/a.csv", "data/b.csv"]
    assert main.get_commit().message.startswith("Merge")

    tag = repo.tag("v1").create(main)
    assert tag.get_commit().id == main.get_commit().id
    assert [c.message for c in main.log(max_amount=2)][1] == "add b"

    # Reads with a range, stat, delete, revert.
    with main.object("data/a.csv").reader(mode="rb") as f:
        f.seek(3)
        assert f.read(2) == b"v\n"
    assert main.object("data/b.csv").stat().size_bytes == 9
    main.object("data/b.csv").delete()
    main.commit(message="drop b")
    main.revert(main.get_commit().id)
    assert main.object("data/b.csv").exists()


def test_conflicts_and_strategies(sluice, client):
    repo = lakefs.Repository("sdk-conflict", client=client).create(storage_namespace="local://sdk-conflict")
    main = repo.branch("main")
    main.object("k").upload(data=b"base")
    main.commit(message="base")
    feature = repo.branch("feature").create(source_reference="main")
    feature.object("k").upload(data=b"feature")
    feature.commit(message="f")
    main.object("k").upload(data=b"main")
    main.commit(message="m")
    with pytest.raises(lakefs.exceptions.ConflictException):
        feature.merge_into(main)
    # dest-wins keeps the destination's version of a conflicting path.
    other = repo.branch("other").create(source_reference="main~1")
    other.object("k").upload(data=b"other")
    other.commit(message="o")
    other.merge_into(main, strategy="dest-wins")
    assert main.object("k").reader().read() == b"main"
    feature.merge_into(main, strategy="source-wins")
    assert main.object("k").reader().read() == b"feature"
    # Reset drops uncommitted changes.
    main.object("tmp").upload(data=b"x")
    main.reset_changes()
    assert not main.object("tmp").exists()


def test_generated_client_errors(sluice):
    config = lakefs_sdk.Configuration(host=f"{sluice.endpoint}/api/v1", username=ACCESS_KEY, password="wrong")
    api = lakefs_sdk.RepositoriesApi(lakefs_sdk.ApiClient(config))
    with pytest.raises(lakefs_sdk.exceptions.UnauthorizedException):
        api.list_repositories()
    config = lakefs_sdk.Configuration(host=f"{sluice.endpoint}/api/v1", username=ACCESS_KEY, password=SECRET_KEY)
    client = lakefs_sdk.ApiClient(config)
    with pytest.raises(lakefs_sdk.exceptions.NotFoundException):
        lakefs_sdk.RepositoriesApi(client).get_repository("nope-nope")
    with pytest.raises(lakefs_sdk.exceptions.BadRequestException):
        lakefs_sdk.RepositoriesApi(client).create_repository(
            lakefs_sdk.RepositoryCreation(name="bad-namespace", storage_namespace="mem://x"))
    version = lakefs_sdk.InternalApi(client).get_lake_fs_version()
    # The lakeFS API version Sluice answers as, and Sluice's own in the context.
    assert version.version == lakefs_sdk.__version__, version
    assert version.version_context.startswith("sluice "), version
    storage = lakefs_sdk.ConfigApi(client).get_config().storage_config
    assert storage.import_support is True and storage.import_validity_regex


@pytest.mark.client("rest api")
def test_protected_branch(sluice, repo):
    """A protected branch refuses direct writes through S3 and the API alike."""
    s3 = sluice.s3()
    s3.put_object(Bucket=repo, Key="main/a", Body=b"a")
    sluice.commit(repo, "main")
    sluice.create_branch(repo, "work")
    r = sluice.api("PUT", f"/repositories/{repo}/settings/branch_protection", [{"pattern": "main"}])
    assert r.status_code == 204, r.text
    assert sluice.api("GET", f"/repositories/{repo}/settings/branch_protection").json() == [{"pattern": "main"}]
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=repo, Key="main/b", Body=b"b")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    r = sluice.api("POST", f"/repositories/{repo}/branches/main/commits", {"message": "x", "allow_empty": True})
    assert r.status_code == 403 and "protected" in r.json()["message"]
    r = sluice.api("DELETE", f"/repositories/{repo}/branches/main/objects?path=a")
    assert r.status_code == 403
    s3.put_object(Bucket=repo, Key="work/b", Body=b"b")
    sluice.commit(repo, "work")
    r = sluice.api("POST", f"/repositories/{repo}/refs/work/merge/main", {})
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=repo, Key="main/b")["Body"].read() == b"b"


@pytest.mark.client("lakefs-spec")
def test_lakefs_spec_parquet(sluice):
    """lakefs-spec (fsspec) writes and reads a Parquet file through the API."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from lakefs_spec import LakeFSFileSystem

    sluice.s3().create_bucket(Bucket="spec-repo")
    fs = LakeFSFileSystem(host=sluice.endpoint, username=ACCESS_KEY, password=SECRET_KEY)
    table = pa.table({"id": list(range(1000)), "v": [f"r{i}" for i in range(1000)]})
    with fs.open("lakefs://spec-repo/main/t/data.parquet", "wb") as f:
        pq.write_table(table, f)
    with fs.open("lakefs://spec-repo/main/t/data.parquet", "rb") as f:
        assert pq.read_table(f).equals(table)
    assert fs.ls("lakefs://spec-repo/main/t/", detail=False) == ["spec-repo/main/t/data.parquet"]
    assert fs.exists("lakefs://spec-repo/main/t/data.parquet")
    fs.rm("lakefs://spec-repo/main/t/data.parquet")
    assert not fs.exists("lakefs://spec-repo/main/t/data.parquet")
    # touch() needs a server that reports lakeFS 1.3.1 or later, and an empty upload.
    fs.touch("lakefs://spec-repo/main/t/_SUCCESS")
    assert fs.info("lakefs://spec-repo/main/t/_SUCCESS")["size"] == 0


@pytest.mark.client("rest api")
def test_api_bad_input_and_concurrency(sluice, repo):
    import concurrent.futures

    r = sluice.api("POST", f"/repositories/{repo}/branches", None)
    assert r.status_code == 400
    r = requests_post_raw(sluice, f"/repositories/{repo}/branches", b"{not json")
    assert r.status_code == 400 and "malformed JSON" in r.json()["message"]
    r = sluice.api("POST", f"/repositories/{repo}/branches", {"name": "bad name", "source": "main"})
    assert r.status_code == 400
    r = sluice.api("GET", f"/repositories/{repo}/refs/no-such-ref/commits")
    assert r.status_code == 404
    r = sluice.api("GET", "/repositories", auth=(ACCESS_KEY, "wrong"))
    assert r.status_code == 401

    # Several clients merge and commit into one branch at once: nothing is lost.
    s3 = sluice.s3()

    def work(i):
        branch = f"c{i}"
        sluice.create_branch(repo, branch)
        s3.put_object(Bucket=repo, Key=f"{branch}/f{i}", Body=b"x")
        sluice.commit(repo, branch)
        for _ in range(50):
            r = sluice.api("POST", f"/repositories/{repo}/refs/{branch}/merge/main", {})
            if r.status_code == 200:
                return
            assert r.status_code == 409, r.text
        raise AssertionError("merge kept conflicting")

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(work, range(6)))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=repo, Prefix="main/")["Contents"]]
    assert sorted(keys) == [f"main/f{i}" for i in range(6)]


def requests_post_raw(sluice, path, body):
    import requests
    return requests.post(f"{sluice.endpoint}/api/v1{path}", data=body, auth=(ACCESS_KEY, SECRET_KEY),
                         headers={"Content-Type": "application/json"}, timeout=30)


@pytest.mark.client("rest api")
def test_openapi_document(sluice):
    import requests
    doc = requests.get(f"{sluice.endpoint}/api/v1/openapi.json", timeout=30).json()
    assert doc["openapi"].startswith("3.")
    ops = {o["operationId"] for path in doc["paths"].values() for o in path.values()}
    for needed in ["createRepository", "createBranch", "commit", "mergeIntoBranch", "uploadObject", "getObject", "createTag", "logCommits", "diffRefs"]:
        assert needed in ops


def test_fidelity_exclusive_upload_metadata_and_log_filters(sluice, client):
    """Answers lakeFS's tools rely on: an exclusive upload of an existing path is 412, user
    metadata given to the upload is kept, and `log_commits` filters by objects, prefixes,
    `since` and `stop_at` instead of answering the whole history."""
    from lakefs.exceptions import ObjectExistsException

    repo = lakefs.Repository("sdk-fidelity", client=client).create(storage_namespace="local://sdk-fidelity")
    main = repo.branch("main")
    main.object("a/x.csv").upload(data=b"1", metadata={"owner": "team-a"})
    assert main.object("a/x.csv").stat().metadata == {"owner": "team-a"}
    with pytest.raises(ObjectExistsException):
        main.object("a/x.csv").upload(data=b"2", mode="x")
    assert main.object("a/x.csv").reader().read() == b"1", "the exclusive upload must not overwrite"
    c1 = main.commit(message="a/x").get_commit().id
    main.object("b/y.csv").upload(data=b"1")
    c2 = main.commit(message="b/y").get_commit().id
    main.object("a/x.csv").upload(data=b"3")
    c3 = main.commit(message="a/x again").get_commit().id

    raw = lambda **q: sluice.api("GET", "/repositories/sdk-fidelity/refs/main/commits?" + "&".join(  # noqa: E731
        f"{k}={v}" for k, vs in q.items() for v in (vs if isinstance(vs, list) else [vs])))
    ids = lambda r: [c["id"] for c in r.json()["results"]]  # noqa: E731
    assert ids(raw(objects="a/x.csv")) == [c3, c1]
    assert ids(raw(objects=["b/y.csv", "nope"])) == [c2]
    assert ids(raw(prefixes="a/")) == [c3, c1]
    assert ids(raw(stop_at=c2))[-1] == c2 and c1 not in ids(raw(stop_at=c2))
    assert ids(raw(since="2100-01-01T00:00:00Z")) == []
    assert raw(since="yesterday").status_code == 400
    # The same through the SDK's generated client.
    sdk = lakefs_sdk.ApiClient(lakefs_sdk.Configuration(host=f"{sluice.endpoint}/api/v1",
                                                        username=ACCESS_KEY, password=SECRET_KEY))
    listed = lakefs_sdk.RefsApi(sdk).log_commits("sdk-fidelity", "main", objects=["a/x.csv"], amount=1)
    assert [c.id for c in listed.results] == [c3]
    assert listed.pagination.has_more


def test_fidelity_cherry_pick_and_branch_creation_answer(sluice, client):
    """cherryPick through both SDKs (the picked commit's message and metadata, overrides,
    a conflict as 409), createBranch answering the bare ref as text, and the legacy branch
    protection routes under lakeFS's own operation ids."""
    import requests
    from lakefs.exceptions import ConflictException

    repo = lakefs.Repository("sdk-cherry", client=client).create(storage_namespace="local://sdk-cherry")
    main = repo.branch("main")
    main.object("a").upload(data=b"a")
    main.commit(message="add a")
    dev = repo.branch("dev").create(source_reference="main")
    dev.object("b").upload(data=b"b")
    picked = dev.commit(message="add b", metadata={"ticket": "T-1"}).get_commit()
    dev.object("c").upload(data=b"c")
    dev.commit(message="add c")

    new = main.cherry_pick(picked.id)
    assert new.message == "add b" and new.metadata == {"ticket": "T-1"}
    assert len(new.parents) == 1
    assert sorted(o.path for o in main.objects()) == ["a", "b"], "only b's change is picked"
    assert main.object("b").reader().read() == b"b"

    # Overrides, through the generated client.
    sdk = lakefs_sdk.ApiClient(lakefs_sdk.Configuration(host=f"{sluice.endpoint}/api/v1",
                                                        username=ACCESS_KEY, password=SECRET_KEY))
    branches = lakefs_sdk.BranchesApi(sdk)
    c_commit = dev.get_commit().id
    other = repo.branch("other").create(source_reference="main")
    res = branches.cherry_pick("sdk-cherry", "other", lakefs_sdk.CherryPickCreation(
        ref=c_commit, commit_overrides=lakefs_sdk.CommitOverrides(message="c, picked", metadata={"k": "v"})))
    assert res.message == "c, picked" and res.metadata == {"k": "v"}
    assert sorted(o.path for o in other.objects()) == ["a", "b", "c"]

    # The same change again changes nothing: 400; a path changed since is a conflict: 409.
    r = sluice.api("POST", "/repositories/sdk-cherry/branches/other/cherry-pick", {"ref": c_commit})
    assert r.status_code == 400, r.text
    main.object("c").upload(data=b"main's own c")
    main.commit(message="c on main")
    with pytest.raises(ConflictException):
        main.cherry_pick(c_commit)
    assert main.object("c").reader().read() == b"main's own c"

    # createBranch answers the new head as bare text.
    r = requests.post(f"{sluice.endpoint}/api/v1/repositories/sdk-cherry/branches",
                      json={"name": "texty", "source": "main"}, auth=(ACCESS_KEY, SECRET_KEY), timeout=30)
    assert r.status_code == 201 and r.headers["content-type"].startswith("text/html"), r.headers
    assert r.text == main.get_commit().id
    assert lakefs_sdk.BranchesApi(sdk).create_branch(
        "sdk-cherry", lakefs_sdk.BranchCreation(name="texty2", source="main")) == main.get_commit().id

    doc = requests.get(f"{sluice.endpoint}/api/v1/openapi.json", timeout=30).json()
    legacy = doc["paths"]["/repositories/{repository}/branch_protection"]
    assert {m: o["operationId"] for m, o in legacy.items()} == {
        "get": "internalGetBranchProtectionRules", "post": "internalCreateBranchProtectionRule",
        "delete": "internalDeleteBranchProtectionRule"}
    assert doc["paths"]["/repositories/{repository}/branches/{branch}/cherry-pick"]["post"]["operationId"] == "cherryPick"


def test_fidelity_retention_rules_set_read_and_applied_by_gc(sluice, client):
    """lakeFS's gc_rules through the generated client; Sluice's own GC honours them."""
    from lakefs_sdk.exceptions import NotFoundException

    repo = lakefs.Repository("sdk-retention", client=client).create(storage_namespace="local://sdk-retention")
    main = repo.branch("main")
    main.object("x").upload(data=b"1" * 100_000)
    main.commit(message="v1")
    main.object("x").upload(data=b"2" * 100_000)
    main.commit(message="v2")
    sdk = lakefs_sdk.ApiClient(lakefs_sdk.Configuration(host=f"{sluice.endpoint}/api/v1",
                                                        username=ACCESS_KEY, password=SECRET_KEY))
    repos = lakefs_sdk.RepositoriesApi(sdk)
    with pytest.raises(NotFoundException):
        repos.get_gc_rules("sdk-retention")
    gc = lambda: sluice.api("POST", "/repositories/sdk-retention/gc", {"grace_seconds": 0}).json()  # noqa: E731
    assert gc()["deleted"] == 0, "without rules all history is kept"

    repos.set_gc_rules("sdk-retention", lakefs_sdk.GarbageCollectionRules(
        default_retention_days=0,
        branches=[lakefs_sdk.GarbageCollectionRule(branch_id="main", retention_days=30)]))
    got = repos.get_gc_rules("sdk-retention")
    assert got.default_retention_days == 0 and [(b.branch_id, b.retention_days) for b in got.branches] == [("main", 30)]
    assert gc()["deleted"] == 0, "main keeps 30 days of history"

    repos.set_gc_rules("sdk-retention", lakefs_sdk.GarbageCollectionRules(default_retention_days=0, branches=[]))
    report = gc()
    assert report["deleted"] == 1, report
    assert main.object("x").reader().read() == b"2" * 100_000
    first = list(main.log())[-2].id  # the commit that wrote v1
    r = sluice.api_raw("GET", f"/repositories/sdk-retention/refs/{first}/objects", params={"path": "x"})
    assert r.status_code >= 400, "v1's bytes are collected"

    repos.delete_gc_rules("sdk-retention")
    with pytest.raises(NotFoundException):
        repos.get_gc_rules("sdk-retention")
    bad = sluice.api("PUT", "/repositories/sdk-retention/settings/gc_rules", {"default_retention_days": -1, "branches": []})
    assert bad.status_code == 400, bad.text


def test_fidelity_diff_with_delimiter(sluice, client):
    """diffRefs and diffBranch with a delimiter: changes below the next delimiter collapse
    into prefix_changed entries, page by page as lakeFS pages them."""
    repo = lakefs.Repository("sdk-delim", client=client).create(storage_namespace="local://sdk-delim")
    main = repo.branch("main")
    for p in ["a/1", "a/2", "b/x/1", "c"]:
        main.object(p).upload(data=p.encode())
    main.commit(message="base")
    dev = repo.branch("dev").create(source_reference="main")
    for p in ["a/1", "b/x/2", "b/y", "d"]:
        dev.object(p).upload(data=b"new " + p.encode())
    expected_top = [("prefix_changed", "a/", "common_prefix"), ("prefix_changed", "b/", "common_prefix"),
                    ("added", "d", "object")]
    sdk = lakefs_sdk.ApiClient(lakefs_sdk.Configuration(host=f"{sluice.endpoint}/api/v1",
                                                        username=ACCESS_KEY, password=SECRET_KEY))
    shape = lambda results: [(d.type, d.path, d.path_type) for d in results]  # noqa: E731
    uncommitted = lakefs_sdk.BranchesApi(sdk).diff_branch("sdk-delim", "dev", delimiter="/")
    assert shape(uncommitted.results) == expected_top
    dev.commit(message="changes")
    refs = lakefs_sdk.RefsApi(sdk)
    assert shape(refs.diff_refs("sdk-delim", "main", "dev", delimiter="/").results) == expected_top
    assert shape(refs.diff_refs("sdk-delim", "main", "dev", delimiter="/", prefix="b/").results) == [
        ("prefix_changed", "b/x/", "common_prefix"), ("added", "b/y", "object")]
    # One at a time, following next_offset.
    seen, after = [], ""
    while True:
        page = refs.diff_refs("sdk-delim", "main", "dev", delimiter="/", amount=1, after=after)
        seen += shape(page.results)
        if not page.pagination.has_more:
            break
        after = page.pagination.next_offset
    assert seen == expected_top
    # Without a delimiter, every object.
    assert [d.path for d in refs.diff_refs("sdk-delim", "main", "dev").results] == ["a/1", "b/x/2", "b/y", "d"]


def test_fidelity_branch_protection_etag_and_if_match(sluice, client):
    """getBranchProtectionRules answers an ETag; setBranchProtectionRules with If-Match
    refuses (412) when the rules changed since, as lakeFS does."""
    from lakefs_sdk.exceptions import ApiException

    lakefs.Repository("sdk-etag", client=client).create(storage_namespace="local://sdk-etag")
    sdk = lakefs_sdk.ApiClient(lakefs_sdk.Configuration(host=f"{sluice.endpoint}/api/v1",
                                                        username=ACCESS_KEY, password=SECRET_KEY))
    repos = lakefs_sdk.RepositoriesApi(sdk)
    first = repos.get_branch_protection_rules_with_http_info("sdk-etag")
    etag = first.headers["ETag"]
    assert first.data == [] and etag
    rule = lambda p: lakefs_sdk.BranchProtectionRule(pattern=p)  # noqa: E731
    repos.set_branch_protection_rules("sdk-etag", [rule("main")], if_match=etag)
    second = repos.get_branch_protection_rules_with_http_info("sdk-etag")
    assert [r.pattern for r in second.data] == ["main"] and second.headers["ETag"] != etag
    # A writer still holding the first ETag loses: 412, and the rules stay as they are.
    with pytest.raises(ApiException) as e:
        repos.set_branch_protection_rules("sdk-etag", [rule("release-*")], if_match=etag)
    assert e.value.status == 412
    assert [r.pattern for r in repos.get_branch_protection_rules("sdk-etag")] == ["main"]
    # Without If-Match the write goes through.
    repos.set_branch_protection_rules("sdk-etag", [rule("main"), rule("release-*")])
    assert [r.pattern for r in repos.get_branch_protection_rules("sdk-etag")] == ["main", "release-*"]


def test_fidelity_metadata_updates_and_hook_output(sluice, client):
    """getRepositoryMetadata (and lakeFS's internal set/delete), updateObjectUserMetadata,
    and getRunHookOutput of a refused merge."""
    repo = lakefs.Repository("sdk-meta", client=client).create(storage_namespace="local://sdk-meta")
    sdk = lakefs_sdk.ApiClient(lakefs_sdk.Configuration(host=f"{sluice.endpoint}/api/v1",
                                                        username=ACCESS_KEY, password=SECRET_KEY))
    internal = lakefs_sdk.InternalApi(sdk)
    assert repo.metadata == {}
    internal.set_repository_metadata("sdk-meta", lakefs_sdk.RepositoryMetadataSet(metadata={"team": "a", "tier": "1"}))
    internal.set_repository_metadata("sdk-meta", lakefs_sdk.RepositoryMetadataSet(metadata={"tier": "2"}))
    assert repo.metadata == {"team": "a", "tier": "2"}
    internal.delete_repository_metadata("sdk-meta", lakefs_sdk.RepositoryMetadataKeys(keys=["team"]))
    assert lakefs_sdk.RepositoriesApi(sdk).get_repository_metadata("sdk-meta") == {"tier": "2"}

    # An object's user metadata replaced on a branch; its bytes unchanged.
    main = repo.branch("main")
    main.object("o").upload(data=b"bytes", metadata={"a": "1"})
    main.commit(message="o")
    lakefs_sdk.ObjectsApi(sdk).update_object_user_metadata(
        "sdk-meta", "main", "o", lakefs_sdk.UpdateObjectUserMetadata(set={"b": "2"}))
    assert main.object("o").stat().metadata == {"b": "2"}
    assert main.object("o").reader().read() == b"bytes"
    assert [c.path for c in main.uncommitted()] == ["o"]
    with pytest.raises(lakefs_sdk.exceptions.NotFoundException):
        lakefs_sdk.ObjectsApi(sdk).update_object_user_metadata(
            "sdk-meta", "main", "nope", lakefs_sdk.UpdateObjectUserMetadata(set={}))
    main.commit(message="metadata")

    # A refused merge: its hook's output says why, with the figures.
    main.object("t/part-0.parquet").upload(data=parquet(range(100)))
    main.object("_sluice_actions/gate.yaml").upload(data=NO_DUPES_GATE)
    main.commit(message="table and gate")
    dup = repo.branch("dup").create(source_reference="main")
    dup.object("t/part-1.parquet").upload(data=parquet(range(100)))
    dup.commit(message="again")
    r = sluice.api("POST", "/repositories/sdk-meta/refs/dup/merge/main", {})
    assert r.status_code == 412, r.text
    actions = lakefs_sdk.ActionsApi(sdk)
    run = actions.list_repository_runs("sdk-meta").results[0]
    hook = actions.list_run_hooks("sdk-meta", run.run_id).results[0]
    output = bytes(actions.get_run_hook_output("sdk-meta", run.run_id, hook.hook_run_id)).decode()
    assert "no_dupes" in output and "failed" in output and "duplicate" in output, output
    assert '"duplicate_rows": 100' in output, output
    with pytest.raises(lakefs_sdk.exceptions.NotFoundException):
        actions.get_run_hook_output("sdk-meta", run.run_id, "nope")
