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
        self.extra_args = []  # more flags for `sluice run`
        self.keys = (ACCESS_KEY, SECRET_KEY)  # the pair `sluice run` gets in its environment
        self.extra_env = {}  # more variables for `sluice run`

    def start(self):
        env = dict(os.environ)
        env["SLUICE_ACCESS_KEY_ID"], env["SLUICE_SECRET_ACCESS_KEY"] = self.keys
        env.setdefault("RUST_LOG", "info,s3s=warn")
        env.update(self.extra_env)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sluice_binary(), "run", "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}",
             *self.extra_args],
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

    def api_raw(self, method, path, params=None, data=None, headers=None):
        """An API call with query parameters and a raw body (object uploads)."""
        return requests.request(method, f"{self.endpoint}/api/v1{path}", params=params, data=data,
                                headers=headers, auth=(ACCESS_KEY, SECRET_KEY), timeout=60)

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


class Cluster(Sluice):
    """Two sidecars on one PostgreSQL and one S3 server, behind a round-robin TCP balancer:
    every new connection goes to the other sidecar, so a client's next request may be
    served by the sidecar that did not see its last one. Looks like one `Sluice`."""

    def __init__(self, base: str, postgres, s3, database: str):
        super().__init__(os.path.join(base, "a"))
        from services import Balancer
        self.bucket = f"lake-{uuid.uuid4().hex[:8]}"
        s3.client().create_bucket(Bucket=self.bucket)
        config = Path(base) / "sluice.toml"
        config.write_text(
            "[storage]\n"
            f'default_namespace_prefix = "s3://{self.bucket}/repos/"\n' + s3.config_toml()
        )
        metadata = postgres.create_database(database)
        self.sidecars = [Sluice(os.path.join(base, name)) for name in ("a", "b")]
        for s in self.sidecars:
            s.extra_args = ["--metadata", metadata, "--config", str(config)]
            # Access keys' secrets are sealed in the shared store: every sidecar needs the key.
            s.extra_env = {"SLUICE_AUTH_ENCRYPT_SECRET_KEY": f"it-{database}"}
        self.balancer = Balancer([s.port for s in self.sidecars])
        self.port = self.balancer.port
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = self.sidecars[0].log_path

    def start(self):
        for s in self.sidecars:
            s.start()

    def stop(self, sig=signal.SIGTERM):
        for s in self.sidecars:
            s.stop(sig)

    def restart(self):
        for s in self.sidecars:
            s.restart()


def topology() -> str:
    """SLUICE_IT_TOPOLOGY: `single` (one sidecar, embedded store; the default) or `pair`
    (two sidecars on PostgreSQL and S3 behind a balancer; ./run-tests runs the S3-client,
    Spark and seed-scenario tests again this way)."""
    value = os.environ.get("SLUICE_IT_TOPOLOGY", "single")
    if value not in ("single", "pair"):
        raise RuntimeError(f"SLUICE_IT_TOPOLOGY={value!r}: expected single or pair")
    return value


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL server for the session."""
    from services import Postgres
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    """A private S3 server (moto) for the session."""
    from services import S3Server
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sluice(request):
    base = tempfile.mkdtemp(prefix="sluice-it-")
    if topology() == "pair":
        server = Cluster(base, request.getfixturevalue("postgres"), request.getfixturevalue("s3_server"),
                         f"it_{uuid.uuid4().hex[:8]}")
    else:
        server = Sluice(os.path.join(base, "data"))
    server.start()
    yield server
    server.stop()
    if topology() == "pair":
        server.balancer.close()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def repo(sluice):
    """A fresh repository (bucket) with branch main, per test."""
    name = f"repo-{uuid.uuid4().hex[:12]}"
    sluice.s3().create_bucket(Bucket=name)
    return name


# Which clients ran. Each test module names the client it drives with
# `pytestmark = pytest.mark.client("name")` (a test may name its own). With
# SLUICE_REQUIRE_ALL=1 (set by .ci/run; CI=true implies it) a skipped test is a failure: a client that cannot run
# must fail the run, not drop out of it unseen. The terminal summary lists every client.
CLIENTS = ["boto3", "awscli", "pyarrow", "s3fs", "rclone", "s3cmd", "spark", "lakefs sdk",
           "lakefs-spec", "sluice cli", "rest api", "sluice run", "notebook", "browser ui",
           "scale-out", "deltalake"]


def require_all() -> bool:
    """SLUICE_REQUIRE_ALL=1, or CI=true unless SLUICE_REQUIRE_ALL=0 says otherwise."""
    explicit = os.environ.get("SLUICE_REQUIRE_ALL")
    if explicit is not None:
        return explicit not in ("", "0")
    return os.environ.get("CI", "").lower() in ("true", "1")


def pytest_configure(config):
    config.addinivalue_line("markers", "client(name): the client a test drives, for the summary of clients that ran")
    config._sluice_clients = {}  # client -> {nodeid: outcome}


def client_of(item) -> str:
    mark = item.get_closest_marker("client")
    return mark.args[0] if mark else "other"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped and require_all() and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, and SLUICE_REQUIRE_ALL=1 makes a skip a failure: {_skip_reason(report)}"
    outcomes = item.config._sluice_clients.setdefault(client_of(item), {})
    previous = outcomes.get(item.nodeid)
    # A test's outcome: the call's, or its setup's or teardown's when they did not pass.
    if report.when == "call" or not report.passed:
        if previous != "failed":
            outcomes[item.nodeid] = report.outcome
    elif previous is None:
        outcomes[item.nodeid] = "pending"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    # A module skipped as a whole (pytest.importorskip at import, a module-level skip).
    report = yield
    if report.skipped and require_all():
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid} skipped at collection, and SLUICE_REQUIRE_ALL=1 makes that a failure: {_skip_reason(report)}"
    return report


def _whole_suite(config) -> bool:
    """The run collects the whole integration folder, unfiltered."""
    if config.option.keyword or config.option.markexpr:
        return False
    here = Path(__file__).resolve().parent
    args = [Path(a.split("::")[0]).resolve() for a in config.args]
    return any(a == here or a in here.parents for a in args)


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    clients = config._sluice_clients
    missing = [c for c in CLIENTS if not any(o == "passed" for o in clients.get(c, {}).values())]
    config._sluice_missing = missing if require_all() and _whole_suite(config) else []
    if config._sluice_missing and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    clients = config._sluice_clients
    tr = terminalreporter
    tr.section("clients")
    not_run = []
    for name in CLIENTS + sorted(set(clients) - set(CLIENTS)):
        outcomes = list(clients.get(name, {}).values())
        if not outcomes:
            if name in CLIENTS:
                not_run.append(name)
            continue
        counts = {o: outcomes.count(o) for o in ("passed", "failed", "skipped") if outcomes.count(o)}
        verdict = "FAILED" if "failed" in counts else "SKIPPED" if "skipped" in counts else "ran"
        tr.write_line(f"{name:12} {verdict}: " + ", ".join(f"{n} {o}" for o, n in counts.items()),
                      red=verdict != "ran", green=verdict == "ran")
    if not_run:
        tr.write_line("no test collected for: " + ", ".join(not_run))
    if config._sluice_missing:
        tr.write_line("SLUICE_REQUIRE_ALL=1 and no passing test for: " + ", ".join(config._sluice_missing), red=True)
