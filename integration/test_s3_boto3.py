"""The S3 API through boto3: buckets, branch isolation, listing, reads, writes, copy,
multi-delete, multipart, presigned URLs, auth and bad input."""

import base64
import hashlib
import time
import urllib.request

import pytest
from boto3.s3.transfer import TransferConfig
from botocore import UNSIGNED
from botocore.exceptions import ClientError

pytestmark = pytest.mark.client("boto3")


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def keys(s3, bucket, prefix=""):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def test_buckets(sluice):
    s3 = sluice.s3()
    s3.create_bucket(Bucket="bucket-ops")
    assert "bucket-ops" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket="bucket-ops")
    assert s3.get_bucket_location(Bucket="bucket-ops").get("LocationConstraint") in (None, "")
    assert "Status" not in s3.get_bucket_versioning(Bucket="bucket-ops")
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="bucket-ops")
    assert code(e) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="no-such-bucket")
    assert status(e) == 404
    s3.put_object(Bucket="bucket-ops", Key="main/x", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="bucket-ops")
    assert code(e) == "BucketNotEmpty"
    s3.delete_object(Bucket="bucket-ops", Key="main/x")
    s3.delete_bucket(Bucket="bucket-ops")
    assert "bucket-ops" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_branch_isolation(sluice, repo):
    s3 = sluice.s3()
    s3.put_object(Bucket=repo, Key="main/data/a.txt", Body=b"A")
    sluice.commit(repo, "main", "a")
    sluice.create_branch(repo, "dev")
    s3.put_object(Bucket=repo, Key="dev/data/b.txt", Body=b"B")
    s3.delete_object(Bucket=repo, Key="dev/data/a.txt")
    assert keys(s3, repo, "main/") == ["main/data/a.txt"]
    assert keys(s3, repo, "dev/") == ["dev/data/b.txt"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=repo, Key="dev/data/a.txt")
    assert code(e) == "NoSuchKey"
    assert s3.get_object(Bucket=repo, Key="main/data/a.txt")["Body"].read() == b"A"
    # The repository root lists branches as folders.
    root = s3.list_objects_v2(Bucket=repo, Delimiter="/")
    assert [p["Prefix"] for p in root["CommonPrefixes"]] == ["dev/", "main/"]
    # Spark's folder probes: HEAD of the branch itself is not an object; its listing is.
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=repo, Key="main")
    assert status(e) == 404
    assert s3.list_objects_v2(Bucket=repo, Prefix="main/", MaxKeys=1)["KeyCount"] == 1


def test_listing_and_paging(sluice, repo):
    s3 = sluice.s3()
    names = [f"main/p/{i:03}" for i in range(25)] + ["main/q/x", "main/q/", "main/q/y/z"]
    odd = ["main/odd/a b+c", "main/odd/ünï", "main/odd/%41"]
    for k in names + odd:
        s3.put_object(Bucket=repo, Key=k, Body=k.encode())
    # Paging with continuation tokens.
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=repo, Prefix="main/p/", MaxKeys=10, **kw)
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == [f"main/p/{i:03}" for i in range(25)]
    # Delimiters, directory markers beside keys under them, start-after.
    page = s3.list_objects_v2(Bucket=repo, Prefix="main/q/", Delimiter="/")
    assert [o["Key"] for o in page["Contents"]] == ["main/q/", "main/q/x"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["main/q/y/"]
    page = s3.list_objects_v2(Bucket=repo, Prefix="main/p/", StartAfter="main/p/020")
    assert [o["Key"] for o in page["Contents"]] == [f"main/p/{i:03}" for i in range(21, 25)]
    # V1 with markers.
    page = s3.list_objects(Bucket=repo, Prefix="main/p/", MaxKeys=5, Marker="main/p/009")
    assert [o["Key"] for o in page["Contents"]][0] == "main/p/010"
    assert page["IsTruncated"]
    # botocore asks for encoding-type=url and decodes: odd keys come back intact.
    assert sorted(keys(s3, repo, "main/odd/")) == sorted(odd)
    # The same ETag from HEAD, GET and LIST.
    head = s3.head_object(Bucket=repo, Key="main/p/001")["ETag"]
    get = s3.get_object(Bucket=repo, Key="main/p/001")["ETag"]
    listed = s3.list_objects_v2(Bucket=repo, Prefix="main/p/001")["Contents"][0]["ETag"]
    assert head == get == listed == '"%s"' % hashlib.md5(b"main/p/001").hexdigest()
    # Versions, answered as an unversioned bucket.
    versions = s3.list_object_versions(Bucket=repo, Prefix="main/p/00")["Versions"]
    assert {v["VersionId"] for v in versions} == {"null"}


def test_ranges_and_conditions(sluice, repo):
    s3 = sluice.s3()
    s3.put_object(Bucket=repo, Key="main/r", Body=b"0123456789", ContentType="text/plain", Metadata={"k": "v"})
    get = lambda **kw: s3.get_object(Bucket=repo, Key="main/r", **kw)
    assert get(Range="bytes=0-4")["Body"].read() == b"01234"
    assert get(Range="bytes=-3")["Body"].read() == b"789"
    r = get(Range="bytes=5-")
    assert r["Body"].read() == b"56789" and r["ContentRange"] == "bytes 5-9/10"
    with pytest.raises(ClientError) as e:
        get(Range="bytes=100-200")
    assert code(e) == "InvalidRange"
    obj = get()
    assert obj["ContentType"] == "text/plain" and obj["Metadata"] == {"k": "v"}
    etag = obj["ETag"]
    assert get(IfMatch=etag)["Body"].read() == b"0123456789"
    with pytest.raises(ClientError) as e:
        get(IfMatch='"nope"')
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        get(IfNoneMatch=etag)
    assert status(e) == 304
    with pytest.raises(ClientError) as e:
        get(IfModifiedSince=obj["LastModified"])
    assert status(e) == 304
    with pytest.raises(ClientError) as e:
        get(IfUnmodifiedSince="Thu, 01 Jan 2015 00:00:00 GMT")
    assert status(e) == 412
    assert get(ResponseContentType="application/x-test")["ContentType"] == "application/x-test"
    assert get(PartNumber=1)["Body"].read() == b"0123456789"


def test_put_checks(sluice, repo):
    s3 = sluice.s3()
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=repo, Key="main/md5", Body=b"data", ContentMD5=wrong)
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=repo, Key="main/md5")
    assert status(e) == 404, "nothing was written"
    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    s3.put_object(Bucket=repo, Key="main/md5", Body=b"data", ContentMD5=right)
    # Checksums: verified on upload, returned when asked.
    s3.put_object(Bucket=repo, Key="main/sum", Body=b"payload", ChecksumAlgorithm="SHA256")
    want = base64.b64encode(hashlib.sha256(b"payload").digest()).decode()
    head = s3.head_object(Bucket=repo, Key="main/sum", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == want
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=repo, Key="main/sum2", Body=b"payload", ChecksumSHA256=base64.b64encode(b"x" * 32).decode())
    assert code(e) == "BadDigest"
    # Conditional writes.
    s3.put_object(Bucket=repo, Key="main/once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=repo, Key="main/once", Body=b"2", IfNoneMatch="*")
    assert status(e) == 412
    etag = s3.head_object(Bucket=repo, Key="main/once")["ETag"]
    s3.put_object(Bucket=repo, Key="main/once", Body=b"3", IfMatch=etag)
    assert s3.get_object(Bucket=repo, Key="main/once")["Body"].read() == b"3"
    # Empty objects.
    s3.put_object(Bucket=repo, Key="main/empty", Body=b"")
    assert s3.get_object(Bucket=repo, Key="main/empty")["Body"].read() == b""


def test_copy_is_metadata_only_and_crosses_branches(sluice, repo):
    s3 = sluice.s3()
    s3.put_object(Bucket=repo, Key="main/src", Body=b"payload", Metadata={"a": "1"})
    sluice.commit(repo, "main")
    sluice.create_branch(repo, "dev")
    s3.copy_object(Bucket=repo, Key="dev/copied", CopySource={"Bucket": repo, "Key": "main/src"})
    obj = s3.get_object(Bucket=repo, Key="dev/copied")
    assert obj["Body"].read() == b"payload" and obj["Metadata"] == {"a": "1"}
    # Spark's rename: copy with REPLACE, then delete.
    s3.copy_object(
        Bucket=repo, Key="dev/renamed", CopySource=f"{repo}/dev/copied",
        MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="application/x-new",
    )
    s3.delete_object(Bucket=repo, Key="dev/copied")
    obj = s3.head_object(Bucket=repo, Key="dev/renamed")
    assert obj["Metadata"] == {"b": "2"} and obj["ContentType"] == "application/x-new"
    assert keys(s3, repo, "main/") == ["main/src"]
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=repo, Key="dev/x", CopySource={"Bucket": repo, "Key": "main/src"}, CopySourceIfMatch='"nope"')
    assert status(e) == 412


def test_delete_objects(sluice, repo):
    s3 = sluice.s3()
    for i in range(5):
        s3.put_object(Bucket=repo, Key=f"main/d/{i}", Body=b"x")
    r = s3.delete_objects(Bucket=repo, Delete={"Objects": [{"Key": "main/d/0"}, {"Key": "main/d/1"}, {"Key": "main/d/missing"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["main/d/0", "main/d/1", "main/d/missing"]
    r = s3.delete_objects(Bucket=repo, Delete={"Objects": [{"Key": "main/d/2"}], "Quiet": True})
    assert not r.get("Deleted")
    r = s3.delete_objects(Bucket=repo, Delete={"Objects": [{"Key": "nobranch/d/3"}]})
    assert r["Errors"][0]["Key"] == "nobranch/d/3"
    assert keys(s3, repo, "main/d/") == ["main/d/3", "main/d/4"]


def test_multipart_with_default_checksums(sluice, repo, tmp_path):
    s3 = sluice.s3()
    data = bytes(range(256)) * (12 * 1024 * 1024 // 256 + 7)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(path), repo, "main/big.bin", Config=config)
    head = s3.head_object(Bucket=repo, Key="main/big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")
    out = tmp_path / "out.bin"
    s3.download_file(repo, "main/big.bin", str(out), Config=config)
    assert out.read_bytes() == data

    # The low-level calls: list, part copy with a range, abort, S3's rules.
    up = s3.create_multipart_upload(Bucket=repo, Key="main/parts")["UploadId"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=repo)["Uploads"]] == [up]
    p1 = s3.upload_part_copy(Bucket=repo, Key="main/parts", UploadId=up, PartNumber=1,
                             CopySource={"Bucket": repo, "Key": "main/big.bin"}, CopySourceRange="bytes=0-5242879")
    p2 = s3.upload_part(Bucket=repo, Key="main/parts", UploadId=up, PartNumber=2, Body=b"tail")
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=repo, Key="main/parts", UploadId=up)["Parts"]] == [1, 2]
    parts = [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=repo, Key="main/parts", UploadId=up, MultipartUpload={"Parts": parts[::-1]})
    assert code(e) == "InvalidPartOrder"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=repo, Key="main/parts", UploadId=up,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"bad"'}]})
    assert code(e) == "InvalidPart"
    s3.complete_multipart_upload(Bucket=repo, Key="main/parts", UploadId=up, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=repo, Key="main/parts")["Body"].read() == data[:5242880] + b"tail"
    # Too-small parts are refused.
    up = s3.create_multipart_upload(Bucket=repo, Key="main/small")["UploadId"]
    a = s3.upload_part(Bucket=repo, Key="main/small", UploadId=up, PartNumber=1, Body=b"a")
    b = s3.upload_part(Bucket=repo, Key="main/small", UploadId=up, PartNumber=2, Body=b"b")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=repo, Key="main/small", UploadId=up, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": a["ETag"]}, {"PartNumber": 2, "ETag": b["ETag"]}]})
    assert code(e) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=repo, Key="main/small", UploadId=up)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=repo, Key="main/small", UploadId=up)
    assert code(e) == "NoSuchUpload"


def test_uploads_survive_restart(sluice, repo):
    s3 = sluice.s3()
    up = s3.create_multipart_upload(Bucket=repo, Key="main/restart")["UploadId"]
    p = s3.upload_part(Bucket=repo, Key="main/restart", UploadId=up, PartNumber=1, Body=b"kept")
    sluice.restart()
    s3 = sluice.s3()
    s3.complete_multipart_upload(Bucket=repo, Key="main/restart", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    assert s3.get_object(Bucket=repo, Key="main/restart")["Body"].read() == b"kept"


def test_presigned_urls(sluice, repo):
    s3 = sluice.s3()
    s3.put_object(Bucket=repo, Key="main/shared", Body=b"shared bytes")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": repo, "Key": "main/shared"}, ExpiresIn=60)
    assert urllib.request.urlopen(url).read() == b"shared bytes"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": repo, "Key": "main/shared"}, ExpiresIn=1)
    time.sleep(2.5)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == 403


def test_auth_is_required(sluice, repo):
    with pytest.raises(ClientError) as e:
        sluice.s3(secret_key="wrong-secret").list_objects_v2(Bucket=repo)
    assert code(e) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as e:
        sluice.s3(access_key="AKUNKNOWN000000000000").list_objects_v2(Bucket=repo)
    assert code(e) == "InvalidAccessKeyId"
    with pytest.raises(ClientError) as e:
        sluice.s3(signature_version=UNSIGNED).list_objects_v2(Bucket=repo)
    assert status(e) == 403
    with pytest.raises(ClientError):
        sluice.s3(signature_version=UNSIGNED).put_object(Bucket=repo, Key="main/anon", Body=b"x")
    with pytest.raises(ClientError) as e:
        sluice.s3().head_object(Bucket=repo, Key="main/anon")
    assert status(e) == 404, "nothing written"


def test_bad_input(sluice, repo):
    s3 = sluice.s3()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="no-such-repo", Key="main/x", Body=b"x")
    assert code(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=repo, Key="no-such-branch/x", Body=b"x")
    assert code(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=repo, Key="main/missing")
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=repo, Key="main/" + "k" * 1100, Body=b"x")
    assert code(e) == "KeyTooLongError"
    # Writes go to branches only: not to a commit.
    s3.put_object(Bucket=repo, Key="main/t", Body=b"x")
    commit = sluice.commit(repo, "main")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=repo, Key=f"{commit}/t", Body=b"y")
    assert status(e) == 405
    # ...but reads work on a commit.
    assert s3.get_object(Bucket=repo, Key=f"{commit}/t")["Body"].read() == b"x"
    # Keys are only keys: no path escapes the repository's storage.
    s3.put_object(Bucket=repo, Key="main/../../etc/x", Body=b"dots")
    assert s3.get_object(Bucket=repo, Key="main/../../etc/x")["Body"].read() == b"dots"


def test_error_before_body_keeps_connections_sane(sluice, repo):
    """An error answered before a PUT's body is read (the client waits on Expect:
    100-continue and never sends it) must not desynchronise the next request on the same
    connection."""
    s3 = sluice.s3()
    s3.put_object(Bucket=repo, Key="main/present", Body=b"here")
    for _ in range(30):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=repo, Key="no-such-branch/x", Body=b"x")
        assert code(e) == "NoSuchBucket"
        assert s3.get_object(Bucket=repo, Key="main/present")["Body"].read() == b"here"
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=repo, Key="main/missing")
        assert code(e) == "NoSuchKey"
