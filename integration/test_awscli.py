"""The AWS CLI against the sidecar: cp, ls, sync, rm, and s3api paging."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.client("awscli")


def aws(sluice, *args, check=True):
    exe = Path(sys.executable).parent / "aws"
    r = subprocess.run([str(exe), "--endpoint-url", sluice.endpoint, *args],
                       env=sluice.aws_env(), capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {r.stderr}")
    return r


def test_cp_ls_sync_rm(sluice, repo, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(12):
        (src / f"f{i}.txt").write_text(f"file {i}")
    (src / "sub" / "deep.txt").write_text("deep")
    (tmp_path / "big.bin").write_bytes(b"z" * (9 * 1024 * 1024))

    aws(sluice, "s3", "cp", str(tmp_path / "big.bin"), f"s3://{repo}/main/big.bin")
    aws(sluice, "s3", "sync", str(src), f"s3://{repo}/main/tree/")
    listing = aws(sluice, "s3", "ls", "--recursive", f"s3://{repo}/main/tree/").stdout
    assert listing.count("\n") == 13 and "tree/sub/deep.txt" in listing
    root = aws(sluice, "s3", "ls", f"s3://{repo}/").stdout
    assert "PRE main/" in root

    out = tmp_path / "back"
    aws(sluice, "s3", "sync", f"s3://{repo}/main/tree/", str(out))
    assert (out / "sub" / "deep.txt").read_text() == "deep"
    aws(sluice, "s3", "cp", f"s3://{repo}/main/big.bin", str(tmp_path / "big.out"))
    assert (tmp_path / "big.out").read_bytes() == (tmp_path / "big.bin").read_bytes()

    # A branch: what is removed there stays on main.
    sluice.commit(repo, "main")
    sluice.create_branch(repo, "cli-dev")
    aws(sluice, "s3", "rm", "--recursive", f"s3://{repo}/cli-dev/tree/")
    assert aws(sluice, "s3", "ls", "--recursive", f"s3://{repo}/cli-dev/tree/", check=False).stdout == ""
    assert "f11.txt" in aws(sluice, "s3", "ls", "--recursive", f"s3://{repo}/main/tree/").stdout

    pages = json.loads(aws(sluice, "s3api", "list-objects-v2", "--bucket", repo, "--prefix", "main/tree/",
                           "--page-size", "5", "--output", "json").stdout)
    assert len(pages["Contents"]) == 13


def test_errors_exit_non_zero(sluice, repo):
    r = aws(sluice, "s3", "cp", f"s3://{repo}/main/missing", "-", check=False)
    assert r.returncode != 0
    r = aws(sluice, "s3api", "head-bucket", "--bucket", "nope-nope", check=False)
    assert r.returncode != 0 and "404" in r.stderr
