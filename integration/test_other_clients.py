"""rclone and s3cmd (Debian's packages) and s3fs (fsspec) against the sidecar."""

import os
import shutil
import subprocess

import pytest
import s3fs

from conftest import ACCESS_KEY, SECRET_KEY


def run(cmd, env=None):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{cmd} failed: {r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.mark.client("rclone")
@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is installed by .ci/run")
def test_rclone(sluice, repo, tmp_path):
    env = sluice.aws_env()
    env.update({
        "RCLONE_CONFIG_SL_TYPE": "s3",
        "RCLONE_CONFIG_SL_PROVIDER": "Other",
        "RCLONE_CONFIG_SL_ENDPOINT": sluice.endpoint,
        "RCLONE_CONFIG_SL_ACCESS_KEY_ID": ACCESS_KEY,
        "RCLONE_CONFIG_SL_SECRET_ACCESS_KEY": SECRET_KEY,
        "RCLONE_CONFIG_SL_REGION": "us-east-1",
        "RCLONE_CONFIG_SL_FORCE_PATH_STYLE": "true",
    })
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(7):
        (src / f"f{i}").write_bytes(os.urandom(1000 + i))
    (src / "d" / "big").write_bytes(os.urandom(7 * 1024 * 1024))
    run(["rclone", "copy", str(src), f"sl:{repo}/main/rc"], env)
    run(["rclone", "check", str(src), f"sl:{repo}/main/rc"], env)
    listed = run(["rclone", "lsf", "-R", f"sl:{repo}/main/rc"], env).split()
    assert sorted(listed) == sorted([f"f{i}" for i in range(7)] + ["d/", "d/big"])
    sluice.commit(repo, "main")
    sluice.create_branch(repo, "rc-dev")
    run(["rclone", "delete", f"sl:{repo}/rc-dev/rc/d"], env)
    assert "d/big" not in run(["rclone", "lsf", "-R", f"sl:{repo}/rc-dev/rc"], env)
    assert "d/big" in run(["rclone", "lsf", "-R", f"sl:{repo}/main/rc"], env)


@pytest.mark.client("s3cmd")
@pytest.mark.skipif(shutil.which("s3cmd") is None, reason="s3cmd is installed by .ci/run")
def test_s3cmd(sluice, repo, tmp_path):
    host = sluice.endpoint.removeprefix("http://")
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {ACCESS_KEY}\nsecret_key = {SECRET_KEY}\n"
        f"host_base = {host}\nhost_bucket = {host}\n"
        "use_https = False\nbucket_location = us-east-1\nsignature_v2 = False\n"
    )
    base = ["s3cmd", "-c", str(cfg), "--no-progress"]
    f = tmp_path / "hello.txt"
    f.write_text("hello from s3cmd")
    run(base + ["put", str(f), f"s3://{repo}/main/s3cmd/hello.txt"])
    assert "s3cmd/hello.txt" in run(base + ["ls", "-r", f"s3://{repo}/main/"])
    out = tmp_path / "out.txt"
    run(base + ["get", f"s3://{repo}/main/s3cmd/hello.txt", str(out)])
    assert out.read_text() == "hello from s3cmd"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(16 * 1024 * 1024))
    run(base + ["put", "--multipart-chunk-size-mb=5", str(big), f"s3://{repo}/main/s3cmd/big.bin"])
    run(base + ["get", "--force", f"s3://{repo}/main/s3cmd/big.bin", str(tmp_path / "big.out")])
    assert (tmp_path / "big.out").read_bytes() == big.read_bytes()
    run(base + ["del", f"s3://{repo}/main/s3cmd/hello.txt"])
    assert "hello.txt" not in run(base + ["ls", "-r", f"s3://{repo}/main/"])


@pytest.mark.client("s3fs")
def test_s3fs(sluice, repo):
    fs = s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY,
                           client_kwargs={"endpoint_url": sluice.endpoint, "region_name": "us-east-1"})
    with fs.open(f"{repo}/main/fsspec/a.txt", "wb") as f:
        f.write(b"alpha")
    fs.pipe(f"{repo}/main/fsspec/sub/b.txt", b"beta")
    assert fs.cat(f"{repo}/main/fsspec/a.txt") == b"alpha"
    assert sorted(fs.find(f"{repo}/main/fsspec")) == [f"{repo}/main/fsspec/a.txt", f"{repo}/main/fsspec/sub/b.txt"]
    assert fs.isdir(f"{repo}/main/fsspec/sub")
    assert fs.info(f"{repo}/main/fsspec/a.txt")["size"] == 5
    with fs.open(f"{repo}/main/fsspec/a.txt", "rb") as f:
        f.seek(2)
        assert f.read(2) == b"ph"
    fs.rm(f"{repo}/main/fsspec", recursive=True)
    assert not fs.exists(f"{repo}/main/fsspec/a.txt")
