"""The `sluice` client subcommands end to end: each one against a running sidecar, in human
and --json form, and failures as one line on stderr with a non-zero exit."""

import json
import os
import subprocess

import pytest

from conftest import ACCESS_KEY, SECRET_KEY, sluice_binary

pytestmark = pytest.mark.client("sluice cli")


def run(sluice, *args, ok=True, as_json=True):
    env = dict(os.environ, SLUICE_ENDPOINT=sluice.endpoint,
               SLUICE_ACCESS_KEY_ID=ACCESS_KEY, SLUICE_SECRET_ACCESS_KEY=SECRET_KEY)
    argv = [sluice_binary(), *args] + (["--json"] if as_json else [])
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    if ok:
        assert r.returncode == 0, f"{args}: {r.stderr}"
        return json.loads(r.stdout) if as_json and r.stdout.strip() else r.stdout
    assert r.returncode != 0, f"{args} should fail"
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def test_every_subcommand(sluice, tmp_path):
    repo = "cli-repo"
    run(sluice, "repo", "create", f"sluice://{repo}")
    assert repo in [r["id"] for r in run(sluice, "repo", "list")]
    src = tmp_path / "data.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    up = run(sluice, "fs", "upload", str(src), f"sluice://{repo}/main/dir/data.bin")
    assert up["size_bytes"] == src.stat().st_size
    run(sluice, "fs", "upload", str(src), f"sluice://{repo}/main/dir/sub/copy.bin")
    assert run(sluice, "fs", "stat", f"sluice://{repo}/main/dir/data.bin")["size_bytes"] == src.stat().st_size
    listed = run(sluice, "fs", "ls", f"sluice://{repo}/main/dir/")
    assert [(o["path"], o["path_type"]) for o in listed] == [("dir/data.bin", "object"), ("dir/sub/", "common_prefix")]
    assert len(run(sluice, "fs", "ls", "--recursive", f"sluice://{repo}/main/")) == 2
    out = tmp_path / "back.bin"
    run(sluice, "fs", "download", f"sluice://{repo}/main/dir/data.bin", str(out))
    assert out.read_bytes() == src.read_bytes()
    assert [d["path"] for d in run(sluice, "diff", f"sluice://{repo}/main")] == ["dir/data.bin", "dir/sub/copy.bin"]
    c1 = run(sluice, "commit", f"sluice://{repo}/main", "-m", "first", "--meta", "k=v")
    assert c1["metadata"] == {"k": "v"}

    run(sluice, "branch", "create", f"sluice://{repo}/dev", "--source", "main")
    assert {b["id"] for b in run(sluice, "branch", "list", f"sluice://{repo}")} == {"main", "dev"}
    run(sluice, "fs", "rm", f"sluice://{repo}/dev/dir/sub/copy.bin")
    (tmp_path / "n.txt").write_text("new")
    run(sluice, "fs", "upload", str(tmp_path / "n.txt"), f"sluice://{repo}/dev/new.txt")
    assert run(sluice, "fs", "cat", f"sluice://{repo}/dev/new.txt", as_json=False) == "new"
    run(sluice, "commit", f"sluice://{repo}/dev", "-m", "dev work")
    changes = run(sluice, "diff", f"sluice://{repo}/main", "dev")
    assert sorted((d["type"], d["path"]) for d in changes) == [("added", "new.txt"), ("removed", "dir/sub/copy.bin")]
    run(sluice, "merge", f"sluice://{repo}/dev", f"sluice://{repo}/main")
    log = run(sluice, "log", f"sluice://{repo}/main")
    assert log[0]["message"].startswith("Merge") and len(log) == 4
    assert "first" in run(sluice, "log", f"sluice://{repo}/main", as_json=False)

    run(sluice, "tag", "create", f"sluice://{repo}/v1", "main")
    assert [t["id"] for t in run(sluice, "tag", "list", f"sluice://{repo}")] == ["v1"]
    run(sluice, "tag", "delete", f"sluice://{repo}/v1")

    run(sluice, "fs", "upload", str(tmp_path / "n.txt"), f"sluice://{repo}/dev/tmp.txt")
    run(sluice, "branch", "reset", f"sluice://{repo}/dev")
    assert run(sluice, "diff", f"sluice://{repo}/dev") == []
    dev_head = run(sluice, "log", f"sluice://{repo}/dev")[0]["id"]
    run(sluice, "branch", "revert", f"sluice://{repo}/dev", dev_head)
    assert "dir/sub/copy.bin" in [o["path"] for o in run(sluice, "fs", "ls", "-r", f"sluice://{repo}/dev/")]

    # Conflicts and strategies.
    for branch, text in (("dev", "dev"), ("main", "main")):
        (tmp_path / "c.txt").write_text(text)
        run(sluice, "fs", "upload", str(tmp_path / "c.txt"), f"sluice://{repo}/{branch}/conflict.txt")
        run(sluice, "commit", f"sluice://{repo}/{branch}", "-m", f"{branch} side")
    err = run(sluice, "merge", f"sluice://{repo}/dev", f"sluice://{repo}/main", ok=False)
    assert "conflict" in err
    run(sluice, "merge", f"sluice://{repo}/dev", f"sluice://{repo}/main", "--strategy", "source-wins")
    assert run(sluice, "fs", "cat", f"sluice://{repo}/main/conflict.txt", as_json=False) == "dev"

    run(sluice, "branch", "protect", f"sluice://{repo}/main")
    err = run(sluice, "fs", "upload", str(tmp_path / "n.txt"), f"sluice://{repo}/main/x.txt", ok=False)
    assert "protected" in err
    run(sluice, "branch", "delete", f"sluice://{repo}/dev")
    run(sluice, "repo", "delete", f"sluice://{repo}")


def test_failures_are_one_line(sluice):
    assert "not found" in run(sluice, "fs", "stat", "sluice://nope-repo/main/x", ok=False)
    assert "sluice://" in run(sluice, "fs", "ls", "s3://wrong/main", ok=False)
    r = subprocess.run([sluice_binary(), "repo", "list"], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, SLUICE_ENDPOINT=sluice.endpoint, SLUICE_ACCESS_KEY_ID=ACCESS_KEY,
                                SLUICE_SECRET_ACCESS_KEY="wrong"))
    assert r.returncode != 0 and "401" in r.stderr
    r = subprocess.run([sluice_binary(), "repo", "list", "--endpoint", "http://127.0.0.1:9"],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, SLUICE_ACCESS_KEY_ID=ACCESS_KEY, SLUICE_SECRET_ACCESS_KEY=SECRET_KEY))
    assert r.returncode != 0 and "cannot reach" in r.stderr
