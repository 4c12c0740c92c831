"""The servers a scale-out test needs, started from nothing and stopped afterwards:

- PostgreSQL from the machine's binaries (Debian: package `postgresql`), in a temporary
  folder on a free port, never the system service;
- an S3 server (moto's, from PyPI) on a free port;
- a TCP relay in front of either, which a test can cut and restore to play an outage
  without losing the server's state.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, log: Path, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} in {timeout}s: {log.read_text()[-2000:]}")


def postgres_bin_dir() -> str:
    """initdb and postgres: on the PATH, else Debian's /usr/lib/postgresql/VERSION/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return str(Path(on_path).resolve().parent)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if not found:
        raise RuntimeError("no PostgreSQL server binaries (initdb, postgres): install Debian's postgresql package")
    return str(Path(found[-1]).parent)


class Postgres:
    """A private PostgreSQL server. As root it runs as the `postgres` user (it refuses root)."""

    def __init__(self):
        self.bin = postgres_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="sluice-pg-"))
        self.port = free_port()
        self.proc = None
        self.log = self.root / "server.log"
        self.as_root = os.geteuid() == 0

    def _cmd(self, *args):
        prefix = ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups"] if self.as_root else []
        return prefix + list(args)

    def start(self):
        if self.as_root:
            subprocess.run(["chown", "-R", "postgres:postgres", str(self.root)], check=True)
        data = self.root / "data"
        subprocess.run(self._cmd(f"{self.bin}/initdb", "-D", str(data), "-U", "sluice", "--auth=trust",
                                 "-E", "UTF8", "--no-sync", "--no-instructions"),
                       check=True, stdout=subprocess.DEVNULL)
        self._launch()
        return self

    def _launch(self):
        log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self._cmd(f"{self.bin}/postgres", "-D", str(self.root / "data"), "-p", str(self.port),
                      "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=400"),
            stdout=log, stderr=log)
        wait_for_port(self.port, self.proc, "postgres", self.log)
        # Accepting connections comes a moment after listening.
        deadline = time.time() + 30
        while True:
            r = subprocess.run([f"{self.bin}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                               capture_output=True)
            if r.returncode == 0 or time.time() > deadline:
                return
            time.sleep(0.1)

    def create_database(self, name: str) -> str:
        """A new database; its URL for `sluice run --metadata`."""
        subprocess.run(self._cmd(f"{self.bin}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "sluice", name),
                       check=True)
        return self.url(name)

    def url(self, database: str, port=None) -> str:
        return f"postgres://sluice@127.0.0.1:{port or self.port}/{database}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # smart shutdown would wait for clients: SIGTERM is "fast"
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


class S3Server:
    """moto's S3 server (in memory) on a free port."""

    access_key = "moto-access-key"
    secret_key = "moto-secret-key"

    def __init__(self):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="sluice-moto-"))
        self.log = self.dir / "moto.log"
        self.proc = None

    def start(self):
        log = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=log, stderr=log)
        wait_for_port(self.port, self.proc, "moto", self.log)
        return self

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}))

    def config_toml(self, endpoint=None) -> str:
        """The `[storage.s3]` table that points Sluice at this server (or at a relay)."""
        return (
            "[storage.s3]\n"
            f'endpoint = "{endpoint or self.endpoint}"\n'
            'region = "us-east-1"\n'
            f'access_key_id = "{self.access_key}"\n'
            f'secret_access_key = "{self.secret_key}"\n'
            "allow_http = true\n"
        )

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Relay:
    """A TCP relay to 127.0.0.1 on one port, or round-robin over several (then it is a
    load balancer: each new connection goes to the next port). `cut()` drops every
    connection and refuses new ones (the backend seems gone); `restore()` lets connections
    through again."""

    def __init__(self, *target_ports: int):
        self.targets = list(target_ports)
        self.turn = 0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.sockets = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _next_target(self) -> int:
        with self.lock:
            port = self.targets[self.turn % len(self.targets)]
            self.turn += 1
            return port

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self._next_target()))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.open = False
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.sockets.clear()

    def restore(self):
        self.open = True

    def close(self):
        self.cut()
        self.listener.close()


def Balancer(ports):
    """Round-robin over the sidecars on `ports`, as any TCP load balancer would."""
    return Relay(*ports)
