"""REST endpoints that the SDK workflows do not reach, called as lakeFS documents them: delete
many objects, copy an object, find a merge base, reset refused on a protected branch, and
writes to a tag refused."""

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.client("rest api")


def put(sluice, repo, branch, path, body):
    r = sluice.api_raw("POST", f"/repositories/{repo}/branches/{branch}/objects", params={"path": path}, data=body)
    assert r.status_code == 201, r.text
    return r.json()


def get(sluice, repo, ref, path):
    return sluice.api_raw("GET", f"/repositories/{repo}/refs/{ref}/objects", params={"path": path})


def listing(sluice, repo, ref, prefix=""):
    r = sluice.api("GET", f"/repositories/{repo}/refs/{ref}/objects/ls?prefix={prefix}&amount=1000")
    assert r.status_code == 200, r.text
    return [o["path"] for o in r.json()["results"]]


def head(sluice, repo, branch):
    r = sluice.api("GET", f"/repositories/{repo}/branches/{branch}")
    assert r.status_code == 200, r.text
    return r.json()["commit_id"]


def error_message(r):
    body = r.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    return body["message"]


def test_delete_many_objects(sluice, repo):
    for i in range(5):
        put(sluice, repo, "main", f"d/f{i}", f"v{i}".encode())
    put(sluice, repo, "main", "d/big", b"x" * (1 << 20))  # file-backed, not inline
    sluice.commit(repo, "main", "five and a big one")
    sluice.create_branch(repo, "cleanup")

    # Committed, staged and missing paths together: lakeFS answers 200 with an error list, and
    # a path that does not exist is not an error.
    put(sluice, repo, "cleanup", "d/staged", b"s")
    paths = ["d/f0", "d/f2", "d/big", "d/staged", "d/never-existed"]
    r = sluice.api("POST", f"/repositories/{repo}/branches/cleanup/objects/delete", {"paths": paths})
    assert r.status_code == 200, r.text
    assert r.json() == {"errors": []}
    assert listing(sluice, repo, "cleanup", "d/") == ["d/f1", "d/f3", "d/f4"]
    assert get(sluice, repo, "cleanup", "d/f0").status_code == 404
    assert listing(sluice, repo, "main", "d/") == ["d/big", "d/f0", "d/f1", "d/f2", "d/f3", "d/f4"], "main is untouched"

    # The deletions are uncommitted changes until committed.
    r = sluice.api("GET", f"/repositories/{repo}/branches/cleanup/diff")
    assert r.status_code == 200, r.text
    assert sorted((d["path"], d["type"]) for d in r.json()["results"]) == [
        ("d/big", "removed"), ("d/f0", "removed"), ("d/f2", "removed")]
    sluice.commit(repo, "cleanup", "deleted three")
    assert listing(sluice, repo, "cleanup", "d/") == ["d/f1", "d/f3", "d/f4"]

    # More than 1,000 paths, malformed bodies, and unknown branches are refused.
    r = sluice.api("POST", f"/repositories/{repo}/branches/cleanup/objects/delete",
                   {"paths": [f"p{i}" for i in range(1001)]})
    assert r.status_code == 400, r.text
    error_message(r)
    r = sluice.api("POST", f"/repositories/{repo}/branches/cleanup/objects/delete", {"path": "d/f1"})
    assert r.status_code == 400, r.text
    r = sluice.api("POST", f"/repositories/{repo}/branches/no-such-branch/objects/delete", {"paths": ["d/f1"]})
    assert r.status_code == 404, r.text
    error_message(r)
    assert listing(sluice, repo, "cleanup", "d/") == ["d/f1", "d/f3", "d/f4"]


def test_copy_object(sluice, repo):
    src = put(sluice, repo, "main", "src/small.txt", b"small object")
    big_body = bytes(range(256)) * 8192  # 2 MiB: a file-backed object
    big = put(sluice, repo, "main", "src/big.bin", big_body)
    first = sluice.commit(repo, "main", "sources")

    # Within a branch (src_ref defaults to the destination branch).
    r = sluice.api("POST", f"/repositories/{repo}/branches/main/objects/copy?dest_path=dst/small.txt",
                   {"src_path": "src/small.txt"})
    assert r.status_code == 201, r.text
    stats = r.json()
    assert stats["path"] == "dst/small.txt" and stats["path_type"] == "object"
    assert stats["size_bytes"] == len(b"small object") and stats["checksum"] == src["checksum"]
    assert get(sluice, repo, "main", "dst/small.txt").content == b"small object"

    # From another ref into a branch: a metadata copy, the same physical object.
    sluice.create_branch(repo, "dev")
    put(sluice, repo, "main", "src/big.bin", b"replaced on main after the commit")
    r = sluice.api("POST", f"/repositories/{repo}/branches/dev/objects/copy?dest_path=copied/big.bin",
                   {"src_path": "src/big.bin", "src_ref": first})
    assert r.status_code == 201, r.text
    stats = r.json()
    assert stats["size_bytes"] == len(big_body) and stats["checksum"] == big["checksum"]
    assert stats["physical_address"] == big["physical_address"], "a copy shares the physical object"
    assert get(sluice, repo, "dev", "copied/big.bin").content == big_body
    assert get(sluice, repo, "main", "copied/big.bin").status_code == 404, "the copy is on dev only"
    r = sluice.api("GET", f"/repositories/{repo}/branches/dev/diff")
    assert [(d["path"], d["type"]) for d in r.json()["results"]] == [("copied/big.bin", "added")]

    # A missing source, a missing dest_path, and an unknown source ref are refused.
    r = sluice.api("POST", f"/repositories/{repo}/branches/dev/objects/copy?dest_path=x", {"src_path": "nope"})
    assert r.status_code == 404, r.text
    error_message(r)
    r = sluice.api("POST", f"/repositories/{repo}/branches/dev/objects/copy", {"src_path": "src/small.txt"})
    assert r.status_code == 400, r.text
    r = sluice.api("POST", f"/repositories/{repo}/branches/dev/objects/copy?dest_path=x",
                   {"src_path": "src/small.txt", "src_ref": "no-such-ref"})
    assert r.status_code == 404, r.text
    assert get(sluice, repo, "dev", "x").status_code == 404


def test_find_merge_base(sluice, repo):
    put(sluice, repo, "main", "a", b"a")
    base = sluice.commit(repo, "main", "base")
    sluice.create_branch(repo, "feature")
    put(sluice, repo, "main", "b", b"b")
    main_head = sluice.commit(repo, "main", "on main")
    put(sluice, repo, "feature", "c", b"c")
    feature_head = sluice.commit(repo, "feature", "on feature")

    r = sluice.api("GET", f"/repositories/{repo}/refs/feature/merge/main")
    assert r.status_code == 200, r.text
    assert r.json() == {"source_commit_id": feature_head, "destination_commit_id": main_head,
                        "base_commit_id": base}
    # Any ref expression resolves, and the base is symmetric.
    r = sluice.api("GET", f"/repositories/{repo}/refs/main/merge/{feature_head[:12]}")
    assert r.status_code == 200, r.text
    assert r.json() == {"source_commit_id": main_head, "destination_commit_id": feature_head,
                        "base_commit_id": base}

    # After a merge, the base is the merged source head.
    r = sluice.api("POST", f"/repositories/{repo}/refs/feature/merge/main", {})
    assert r.status_code == 200, r.text
    r = sluice.api("GET", f"/repositories/{repo}/refs/feature/merge/main")
    assert r.json()["base_commit_id"] == feature_head
    assert r.json()["destination_commit_id"] == head(sluice, repo, "main")

    r = sluice.api("GET", f"/repositories/{repo}/refs/no-such-ref/merge/main")
    assert r.status_code == 404, r.text
    error_message(r)


def test_reset_refused_on_a_protected_branch(sluice, repo):
    put(sluice, repo, "main", "kept", b"committed")
    committed = sluice.commit(repo, "main", "one object")
    r = sluice.api("PUT", f"/repositories/{repo}/settings/branch_protection", [{"pattern": "main"}])
    assert r.status_code == 204, r.text

    # Nothing is uncommitted, so a reset would change nothing; it is refused all the same.
    for body in ({"type": "reset"}, {"type": "object", "path": "kept"}, {"type": "common_prefix", "path": "k"}):
        r = sluice.api("PUT", f"/repositories/{repo}/branches/main", body)
        assert r.status_code == 403, f"{body}: {r.status_code} {r.text}"
        assert "protected" in error_message(r)
    assert head(sluice, repo, "main") == committed
    assert get(sluice, repo, "main", "kept").content == b"committed"

    # An unprotected branch resets its uncommitted changes, and a bad reset type is refused.
    sluice.create_branch(repo, "scratch")
    put(sluice, repo, "scratch", "tmp", b"t")
    r = sluice.api("PUT", f"/repositories/{repo}/branches/scratch", {"type": "reset"})
    assert r.status_code == 204, r.text
    assert get(sluice, repo, "scratch", "tmp").status_code == 404
    r = sluice.api("PUT", f"/repositories/{repo}/branches/scratch", {"type": "sideways"})
    assert r.status_code == 400, r.text


def test_writes_to_a_tag_are_refused(sluice, repo):
    put(sluice, repo, "main", "a", b"tagged")
    commit = sluice.commit(repo, "main", "to tag")
    r = sluice.api("POST", f"/repositories/{repo}/tags", {"id": "v1", "ref": "main"})
    assert r.status_code == 201, r.text
    assert r.json() == {"id": "v1", "commit_id": commit}

    # Reads through the tag work.
    assert get(sluice, repo, "v1", "a").content == b"tagged"

    # Every write addressed to the tag is refused through the API: a tag is not a branch.
    refused = [
        sluice.api_raw("POST", f"/repositories/{repo}/branches/v1/objects", params={"path": "b"}, data=b"x" * (1 << 20)),
        sluice.api_raw("POST", f"/repositories/{repo}/branches/v1/objects", params={"path": "c"}, data=b"small"),
        sluice.api("DELETE", f"/repositories/{repo}/branches/v1/objects?path=a"),
        sluice.api("POST", f"/repositories/{repo}/branches/v1/objects/delete", {"paths": ["a"]}),
        sluice.api("POST", f"/repositories/{repo}/branches/v1/objects/copy?dest_path=d", {"src_path": "a", "src_ref": "main"}),
        sluice.api("POST", f"/repositories/{repo}/branches/v1/commits", {"message": "x", "allow_empty": True}),
        sluice.api("PUT", f"/repositories/{repo}/branches/v1", {"type": "reset"}),
        sluice.api("POST", f"/repositories/{repo}/refs/main/merge/v1", {}),
    ]
    for r in refused:
        assert r.status_code == 404, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
        error_message(r)

    # And through S3 (MethodNotAllowed: the first key segment is a tag, not a branch).
    s3 = sluice.s3()
    for call in (lambda: s3.put_object(Bucket=repo, Key="v1/b", Body=b"x"),
                 lambda: s3.delete_object(Bucket=repo, Key="v1/a"),
                 lambda: s3.copy_object(Bucket=repo, Key="v1/d", CopySource={"Bucket": repo, "Key": "main/a"})):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "MethodNotAllowed"

    # The tag still names the same commit, with the same contents.
    r = sluice.api("GET", f"/repositories/{repo}/tags/v1")
    assert r.json() == {"id": "v1", "commit_id": commit}
    assert listing(sluice, repo, "v1") == ["a"]
    assert get(sluice, repo, "v1", "a").content == b"tagged"
    assert listing(sluice, repo, "main") == ["a"], "nothing reached the branch the tag came from"
