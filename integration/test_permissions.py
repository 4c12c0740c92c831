"""Users, keys, groups and policies, and the same policy enforced on every interface.

The admin creates, through lakeFS's own SDK (its AuthApi, unchanged): a viewer (in lakeFS's
built-in Viewers group), a developer who may write only branches `dev-*` of one repository
(Sluice's branch-writer policy, in lakeFS's policy shape), and a user with no rights. Then
each action is tried on each interface (S3 through boto3, the REST API, the UI's forms, the
CLI) with a key that may and a key that may not, and the outcome is checked both ways."""

import json
import os
import re
import subprocess
import time
import uuid

import botocore.exceptions
import lakefs_sdk
import pytest
import requests

from conftest import ACCESS_KEY, SECRET_KEY, sluice_binary


def sdk(sluice, key=ACCESS_KEY, secret=SECRET_KEY):
    config = lakefs_sdk.Configuration(host=f"{sluice.endpoint}/api/v1", username=key, password=secret)
    return lakefs_sdk.AuthApi(lakefs_sdk.ApiClient(config))


class People:
    """The repository and the three users, with their keys."""

    def __init__(self, sluice):
        tag = uuid.uuid4().hex[:8]
        self.repo = f"perm-{tag}"
        admin = sluice.s3()
        admin.create_bucket(Bucket=self.repo)
        admin.put_object(Bucket=self.repo, Key="main/data/a.csv", Body=b"id\n1\n")
        sluice.commit(self.repo, "main", "seed")
        sluice.create_branch(self.repo, "dev-1")
        auth = sdk(sluice)
        self.keys = {}
        for who in ("viewer", "dev", "nobody"):
            user = f"{who}-{tag}"
            auth.create_user(lakefs_sdk.UserCreation(id=user))
            cred = auth.create_credentials(user)
            assert re.fullmatch(r"AKIAJ[A-Z2-7]{14}Q", cred.access_key_id)
            self.keys[who] = (cred.access_key_id, cred.secret_access_key)
            setattr(self, who, user)
        auth.add_group_membership("Viewers", self.viewer)
        writer = f"DevBranches-{tag}"
        self.policy = writer
        r = subprocess.run(
            [sluice_binary(), "--endpoint", sluice.endpoint, "--json", "policy", "branch-writer", writer,
             "--repo", self.repo, "--branches", "dev-*"],
            env=cli_env(ACCESS_KEY, SECRET_KEY), capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        auth.attach_policy_to_user(self.dev, writer)

    def s3(self, sluice, who):
        key, secret = self.keys[who]
        return sluice.s3(access_key=key, secret_key=secret)

    def api(self, sluice, who, method, path, **kwargs):
        return requests.request(method, f"{sluice.endpoint}/api/v1{path}", auth=self.keys[who], timeout=60,
                                **kwargs)


def settle():
    """Another sidecar may hold a user's policies for up to 2 s (docs/security.md): wait that
    out after changing them, so the pair run tests the change, not the cache."""
    time.sleep(2.1)


def cli_env(key, secret):
    env = dict(os.environ)
    env["SLUICE_ACCESS_KEY_ID"], env["SLUICE_SECRET_ACCESS_KEY"] = key, secret
    return env


@pytest.fixture(scope="module")
def people(sluice):
    return People(sluice)


def s3_denied(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    assert e.value.response["Error"]["Code"] == "AccessDenied", e.value.response
    return e.value


@pytest.mark.client("lakefs sdk")
def test_the_lakefs_sdk_manages_users_groups_and_policies(sluice, people):
    auth = sdk(sluice)
    groups = [g.id for g in auth.list_groups().results]
    assert {"Admins", "SuperUsers", "Developers", "Viewers"} <= set(groups)
    policies = {p.id for p in auth.list_policies(amount=1000).results}
    assert {"FSFullAccess", "FSReadAll", "FSReadWriteAll", "AuthFullAccess", "AuthManageOwnCredentials",
            "RepoManagementFullAccess", "RepoManagementReadAll", people.policy} <= policies
    assert [u.id for u in auth.list_group_members("Viewers").results] == [people.viewer]
    effective = {p.id for p in auth.list_user_policies(people.viewer, effective=True).results}
    assert effective == {"FSReadAll", "AuthManageOwnCredentials"}
    assert auth.list_user_policies(people.viewer).results == []
    assert [p.id for p in auth.list_user_policies(people.dev).results] == [people.policy]
    assert auth.get_current_user().user.id == ACCESS_KEY

    # A key lists without its secret; the user may make a second one of its own...
    own = sdk(sluice, *people.keys["viewer"])
    listed = own.list_user_credentials(people.viewer).results
    assert [c.access_key_id for c in listed] == [people.keys["viewer"][0]]
    second = own.create_credentials(people.viewer)
    assert own.get_current_user().user.id == people.viewer
    own.delete_credentials(people.viewer, second.access_key_id)
    # ...but not read other users, nor make keys for them (lakeFS's 401).
    for call in (lambda: own.list_users(), lambda: own.create_credentials(people.dev),
                 lambda: own.create_policy(lakefs_sdk.Policy(id="mine", statement=[lakefs_sdk.Statement(
                     effect="allow", resource="*", action=["fs:*"])]))):
        with pytest.raises(lakefs_sdk.exceptions.UnauthorizedException):
            call()

    # A policy round trip, an update, and the mistakes lakeFS also refuses.
    p = lakefs_sdk.Policy(id=f"tmp-{people.repo}", statement=[lakefs_sdk.Statement(
        effect="deny", resource=f"arn:lakefs:fs:::repository/{people.repo}/object/secret/*",
        action=["fs:ReadObject"])])
    made = auth.create_policy(p)
    assert made.creation_date > 0
    with pytest.raises(lakefs_sdk.exceptions.ApiException) as e:
        auth.create_policy(p)
    assert e.value.status == 409
    p.statement[0].action = ["fs:ReadObject", "fs:WriteObject"]
    assert auth.update_policy(p.id, p).statement[0].action == ["fs:ReadObject", "fs:WriteObject"]
    bad = sluice.api("POST", "/auth/policies", {"id": "bad", "statement": [
        {"effect": "allow", "resource": "*", "action": ["*"]}]})
    assert bad.status_code == 400 and "service:Action" in bad.json()["message"]
    ip = sluice.api("POST", "/auth/policies", {"id": "ip", "statement": [
        {"effect": "allow", "resource": "*", "action": ["fs:*"],
         "condition": {"IpAddress": {"SourceIp": ["10.0.0.0/8"]}}}]})
    assert ip.status_code == 400 and "not supported" in ip.json()["message"]
    auth.delete_policy(p.id)
    with pytest.raises(lakefs_sdk.exceptions.NotFoundException):
        auth.get_policy(p.id)


@pytest.mark.client("boto3")
def test_s3_follows_the_policies(sluice, people):
    repo = people.repo
    viewer, dev, nobody = (people.s3(sluice, w) for w in ("viewer", "dev", "nobody"))
    # Reads: the viewer and the developer may, the user with no policy may not.
    for client in (viewer, dev):
        assert client.get_object(Bucket=repo, Key="main/data/a.csv")["Body"].read() == b"id\n1\n"
        assert [o["Key"] for o in client.list_objects_v2(Bucket=repo, Prefix="main/")["Contents"]] == [
            "main/data/a.csv"]
    s3_denied(lambda: nobody.get_object(Bucket=repo, Key="main/data/a.csv"))
    s3_denied(lambda: nobody.list_objects_v2(Bucket=repo, Prefix="main/"))
    # The bucket listing shows what each may read.
    assert repo in [b["Name"] for b in viewer.list_buckets()["Buckets"]]
    assert repo not in [b["Name"] for b in nobody.list_buckets()["Buckets"]]
    # Writes: the developer on dev-* only; the viewer nowhere.
    dev.put_object(Bucket=repo, Key="dev-1/data/b.csv", Body=b"id\n2\n")
    s3_denied(lambda: dev.put_object(Bucket=repo, Key="main/data/b.csv", Body=b"x"))
    s3_denied(lambda: viewer.put_object(Bucket=repo, Key="dev-1/data/c.csv", Body=b"x"))
    dev.copy_object(Bucket=repo, Key="dev-1/data/copy.csv", CopySource={"Bucket": repo, "Key": "main/data/a.csv"})
    s3_denied(lambda: dev.copy_object(Bucket=repo, Key="main/data/copy.csv",
                                      CopySource={"Bucket": repo, "Key": "dev-1/data/b.csv"}))
    s3_denied(lambda: dev.create_multipart_upload(Bucket=repo, Key="main/big.bin"))
    up = dev.create_multipart_upload(Bucket=repo, Key="dev-1/big.bin")
    dev.abort_multipart_upload(Bucket=repo, Key="dev-1/big.bin", UploadId=up["UploadId"])
    s3_denied(lambda: viewer.delete_object(Bucket=repo, Key="dev-1/data/b.csv"))
    s3_denied(lambda: dev.delete_objects(Bucket=repo, Delete={"Objects": [
        {"Key": "dev-1/data/copy.csv"}, {"Key": "main/data/a.csv"}]}))
    dev.delete_object(Bucket=repo, Key="dev-1/data/copy.csv")
    s3_denied(lambda: viewer.create_bucket(Bucket=f"{repo}-new"))
    # Nothing the refusals touched changed.
    admin = sluice.s3()
    assert [o["Key"] for o in admin.list_objects_v2(Bucket=repo, Prefix="main/")["Contents"]] == ["main/data/a.csv"]
    assert sorted(o["Key"] for o in admin.list_objects_v2(Bucket=repo, Prefix="dev-1/")["Contents"]) == [
        "dev-1/data/a.csv", "dev-1/data/b.csv"]
    # An unknown key is S3's InvalidAccessKeyId, not a denial.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sluice.s3(access_key="AKIAJNOSUCHKEY00000Q", secret_key="x" * 40).list_buckets()
    assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"


@pytest.mark.client("rest api")
def test_the_rest_api_follows_the_same_policies(sluice, people):
    repo = people.repo
    objects = f"/repositories/{repo}/refs/main/objects"
    assert people.api(sluice, "viewer", "GET", objects, params={"path": "data/a.csv"}).content == b"id\n1\n"
    denied = people.api(sluice, "nobody", "GET", objects, params={"path": "data/a.csv"})
    assert denied.status_code == 401 and "insufficient permissions" in denied.json()["message"]
    listed = people.api(sluice, "nobody", "GET", "/repositories").json()["results"]
    assert repo not in [r["id"] for r in listed]
    upload = f"/repositories/{repo}/branches/{{}}/objects"
    assert people.api(sluice, "dev", "POST", upload.format("dev-1"), params={"path": "r/x.csv"},
                      data=b"1").status_code == 201
    assert people.api(sluice, "dev", "POST", upload.format("main"), params={"path": "r/x.csv"},
                      data=b"1").status_code == 401
    commit = f"/repositories/{repo}/branches/{{}}/commits"
    assert people.api(sluice, "dev", "POST", commit.format("dev-1"), json={"message": "dev"}).status_code == 201
    assert people.api(sluice, "dev", "POST", commit.format("main"), json={"message": "no"}).status_code == 401
    log = people.api(sluice, "dev", "GET", f"/repositories/{repo}/refs/dev-1/commits").json()["results"]
    assert log[0]["committer"] == people.dev
    branches = f"/repositories/{repo}/branches"
    assert people.api(sluice, "dev", "POST", branches, json={"name": "dev-2", "source": "main"}).status_code == 201
    assert people.api(sluice, "dev", "POST", branches, json={"name": "feature", "source": "main"}).status_code == 401
    assert people.api(sluice, "dev", "DELETE", f"{branches}/main").status_code == 401
    assert people.api(sluice, "dev", "DELETE", f"{branches}/dev-2").status_code == 204
    merge = f"/repositories/{repo}/refs/dev-1/merge/main"
    assert people.api(sluice, "dev", "POST", merge, json={}).status_code == 401
    assert people.api(sluice, "viewer", "POST", f"/repositories/{repo}/tags",
                      json={"id": "v1", "ref": "main"}).status_code == 401
    assert sluice.api("POST", merge, {}).status_code == 200  # the admin may
    # Deny wins over allow: a deny on one folder beats the branch-writer's allow.
    auth = sdk(sluice)
    deny = lakefs_sdk.Policy(id=f"NoSecrets-{repo}", statement=[lakefs_sdk.Statement(
        effect="deny", action=["fs:WriteObject"],
        resource=f"arn:lakefs:fs:::repository/{repo}/object/secret/*")])
    auth.create_policy(deny)
    auth.attach_policy_to_user(people.dev, deny.id)
    settle()
    assert people.api(sluice, "dev", "POST", upload.format("dev-1"), params={"path": "secret/k"},
                      data=b"1").status_code == 401
    s3_denied(lambda: people.s3(sluice, "dev").put_object(Bucket=repo, Key="dev-1/secret/k", Body=b"1"))
    auth.detach_policy_from_user(people.dev, deny.id)
    settle()
    assert people.api(sluice, "dev", "POST", upload.format("dev-1"), params={"path": "secret/k"},
                      data=b"1").status_code == 201


@pytest.mark.client("rest api")
def test_a_deleted_key_or_user_stops_working(sluice, people):
    auth = sdk(sluice)
    user = f"temp-{people.repo}"
    auth.create_user(lakefs_sdk.UserCreation(id=user))
    auth.add_group_membership("Viewers", user)
    key = auth.create_credentials(user)
    s3 = sluice.s3(access_key=key.access_key_id, secret_key=key.secret_access_key)
    s3.head_bucket(Bucket=people.repo)
    auth.delete_credentials(user, key.access_key_id)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_bucket(Bucket=people.repo)
    assert e.value.response["Error"]["Code"] in ("403", "InvalidAccessKeyId")
    key = auth.create_credentials(user)
    auth.delete_user(user)
    r = requests.get(f"{sluice.endpoint}/api/v1/user", auth=(key.access_key_id, key.secret_access_key), timeout=30)
    assert r.status_code == 401
    assert sluice.api("DELETE", f"/auth/users/{ACCESS_KEY}").status_code == 400
    # Secrets are never logged (on the pair, every sidecar's log).
    log = b"".join(open(s.log_path, "rb").read() for s in getattr(sluice, "sidecars", [sluice]))
    assert key.secret_access_key.encode() not in log
    assert b"audit: user created" in log


@pytest.mark.client("ui forms")
def test_the_ui_follows_the_same_policies(sluice, people):
    def session(who):
        s = requests.Session()
        key, secret = people.keys[who]
        r = s.post(f"{sluice.endpoint}/ui/login", data={"access_key_id": key, "secret_access_key": secret},
                   headers={"Origin": sluice.endpoint}, allow_redirects=False,
                   timeout=30)
        assert r.status_code == 303, r.text
        return s

    def csrf(page):
        return re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    repo = people.repo
    nobody = session("nobody")
    r = nobody.get(f"{sluice.endpoint}/ui/repositories/{repo}/objects?ref=main", timeout=30)
    assert r.status_code == 403 and "fs:ListObjects" in r.text
    assert repo not in nobody.get(f"{sluice.endpoint}/ui/repositories", timeout=30).text

    dev = session("dev")
    page = dev.get(f"{sluice.endpoint}/ui/repositories/{repo}/branches", timeout=30)
    assert page.status_code == 200
    token = csrf(page.text)
    made = dev.post(f"{sluice.endpoint}/ui/repositories/{repo}/branches/create",
                    data={"csrf": token, "name": "dev-ui", "source": "main"}, timeout=30)
    assert made.status_code == 200 and "dev-ui" in made.text
    refused = dev.post(f"{sluice.endpoint}/ui/repositories/{repo}/branches/create",
                       data={"csrf": token, "name": "ui-feature", "source": "main"}, timeout=30)
    assert refused.status_code == 403 and "fs:CreateBranch" in refused.text
    refused = dev.post(f"{sluice.endpoint}/ui/repositories/{repo}/merge",
                       data={"csrf": token, "ref": "main", "compare": "dev-1"}, timeout=30)
    assert refused.status_code == 403 and "fs:CreateCommit" in refused.text
    names = [b["id"] for b in sluice.api("GET", f"/repositories/{repo}/branches").json()["results"]]
    assert "dev-ui" in names and "ui-feature" not in names


@pytest.mark.client("sluice cli")
def test_the_cli_manages_users_and_keys(sluice, people):
    def cli(*args, key=ACCESS_KEY, secret=SECRET_KEY):
        return subprocess.run([sluice_binary(), "--endpoint", sluice.endpoint, *args], env=cli_env(key, secret),
                              capture_output=True, text=True, timeout=60)

    user = f"cli-{people.repo}"
    r = cli("user", "create", user, "--group", "Developers")
    assert r.returncode == 0, r.stderr
    r = cli("--json", "key", "create", user)
    assert r.returncode == 0, r.stderr
    key = json.loads(r.stdout)
    r = cli("--json", "user", "show", user)
    shown = json.loads(r.stdout)
    assert [g["id"] for g in shown["groups"]] == ["Developers"]
    assert {p["id"] for p in shown["effective_policies"]} == {
        "FSReadWriteAll", "AuthManageOwnCredentials", "RepoManagementReadAll"}
    assert key["access_key_id"] in cli("key", "list", user).stdout
    # The developer may write but not create repositories: a clear message, exit 1.
    r = cli("repo", "create", f"sluice://{people.repo}-cli", key=key["access_key_id"],
            secret=key["secret_access_key"])
    assert r.returncode == 1 and "insufficient permissions" in r.stderr, r.stderr
    r = cli("user", "list", key=key["access_key_id"], secret=key["secret_access_key"])
    assert r.returncode == 1 and "insufficient permissions" in r.stderr
    assert cli("key", "delete", user, key["access_key_id"]).returncode == 0
    assert cli("user", "delete", user).returncode == 0
    r = cli("user", "show", user)
    assert r.returncode == 1 and "not found" in r.stderr
