"""Start the real `sluice` binary on a free port with a temporary data dir, for real clients."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
ACCESS_KEY = "AKSLUICETESTKEY00001"
SECRET_KEY = "sluice-test-secret-key-0123456789abcdefgh"


def sluice_binary() -> str:
    explicit = os.environ.get("SLUICE_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    return str(Path(target) / "debug" / "sluice")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sluice:
    """One running sidecar; restartable on the same data dir."""

    def __init__(self, data_dir: str):
        self.data_dir = data_dir
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log_path = Path(data_dir).with_suffix(".log")

    def start(self):
        env = dict(os.environ)
        env["SLUICE_ACCESS_KEY_ID"] = ACCESS_KEY
        env["SLUICE_SECRET_ACCESS_KEY"] = SECRET_KEY
        env.setdefault("RUST_LOG", "info,s3s=warn")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sluice_binary(), "run", "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if "listening on" in line:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"sluice exited: {self.proc.returncode}; see {self.log_path}")
        raise RuntimeError("sluice did not start in time")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    # Clients.
    def s3(self, **config):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=config.pop("access_key", ACCESS_KEY),
            aws_secret_access_key=config.pop("secret_key", SECRET_KEY),
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
        )

    def api(self, method, path, json=None, auth=(ACCESS_KEY, SECRET_KEY)):
        return requests.request(method, f"{self.endpoint}/api/v1{path}", json=json, auth=auth, timeout=60)

    def create_branch(self, repo, name, source="main"):
        r = self.api("POST", f"/repositories/{repo}/branches", {"name": name, "source": source})
        assert r.status_code == 201, r.text

    def commit(self, repo, branch, message="commit"):
        r = self.api("POST", f"/repositories/{repo}/branches/{branch}/commits", {"message": message})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def aws_env(self):
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
        )
        # A machine-wide CA bundle is for HTTPS; the Go SDK in rclone refuses to start with
        # one on a plain-HTTP endpoint.
        env.pop("AWS_CA_BUNDLE", None)
        return env


@pytest.fixture(scope="session")
def sluice():
    base = tempfile.mkdtemp(prefix="sluice-it-")
    server = Sluice(os.path.join(base, "data"))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def repo(sluice):
    """A fresh repository (bucket) with branch main, per test."""
    name = f"repo-{uuid.uuid4().hex[:12]}"
    sluice.s3().create_bucket(Bucket=name)
    return name
