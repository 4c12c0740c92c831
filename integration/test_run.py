"""`sluice run` itself: settings from flags, variables and a TOML file; the key pair made
once and kept; a graceful stop that finishes requests in flight; acknowledged writes
surviving SIGKILL; and protocol edges sent raw: clock skew, malformed XML, a body that
does not match its x-amz-content-sha256, virtual-host addressing."""

import base64
import datetime
import hashlib
import os
import random
import signal
import stat
import subprocess
import threading
import time

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, Sluice, free_port, sluice_binary

pytestmark = pytest.mark.client("sluice run")


def start(args, env_extra=None, cwd=None):
    env = dict(os.environ)
    for k in ("SLUICE_ACCESS_KEY_ID", "SLUICE_SECRET_ACCESS_KEY"):
        env.pop(k, None)
    env.update(env_extra or {})
    proc = subprocess.Popen([sluice_binary(), "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=cwd)
    lines = []
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline().decode()
        lines.append(line)
        if "listening on" in line:
            return proc, lines
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"did not start: {lines} {proc.stderr.read().decode()}")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return out.decode(), err.decode()


def test_settings_and_generated_keys(tmp_path):
    port = free_port()
    config = tmp_path / "sluice.toml"
    config.write_text(f'data_dir = "{tmp_path / "from-file"}"\nlisten = "127.0.0.1:{port}"\n')
    proc, lines = start(["--config", str(config)])
    out, err = stop(proc)
    printed = "".join(lines) + out
    assert f"127.0.0.1:{port}" in printed
    creds = tmp_path / "from-file" / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    secret = [l for l in printed.splitlines() if "SLUICE_SECRET_ACCESS_KEY=" in l][0].split("=", 1)[1]
    assert secret not in err, "the secret is never logged"
    # Flags and variables override the file; a later start reuses the stored pair silently.
    port2 = free_port()
    proc, lines = start(["--config", str(config)], {"SLUICE_LISTEN": f"127.0.0.1:{port2}"})
    out, err = stop(proc)
    assert f"127.0.0.1:{port2}" in "".join(lines)
    assert "SLUICE_SECRET_ACCESS_KEY=" not in "".join(lines) + out
    # A bad config file is a one-line error and a non-zero exit.
    config.write_text("listen = [\n")
    r = subprocess.run([sluice_binary(), "run", "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "config file" in r.stderr


def signed(method, url, body=b"", headers=None, when=None):
    """A request signed with SigV4 by botocore, optionally at another time."""
    headers = dict(headers or {})
    headers.setdefault("X-Amz-Content-SHA256", hashlib.sha256(body).hexdigest())
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1")
    if when is not None:
        real = datetime.datetime
        class Fixed(real):
            @classmethod
            def utcnow(cls):
                return when
            @classmethod
            def now(cls, tz=None):
                return when.replace(tzinfo=tz) if tz else when
        import botocore.auth as ba
        ba.datetime.datetime = Fixed
        try:
            auth.add_auth(req)
        finally:
            ba.datetime.datetime = real
    else:
        auth.add_auth(req)
    return dict(req.headers.items())


def test_protocol_edges(sluice, repo):
    base = f"{sluice.endpoint}/{repo}"
    # Clock skew: a request signed an hour ago is refused.
    url = f"{base}?list-type=2"
    old = datetime.datetime.utcnow() - datetime.timedelta(hours=1)
    r = requests.get(url, headers=signed("GET", url, when=old))
    assert r.status_code == 403 and "RequestTimeTooSkewed" in r.text
    # Malformed XML in a multi-object delete.
    url = f"{base}?delete"
    body = b"<Delete><Object><Key>main/x</Key></Object"
    h = signed("POST", url, body, {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()})
    r = requests.post(url, data=body, headers=h)
    assert r.status_code == 400 and "MalformedXML" in r.text
    # A body that does not match its signed hash: refused, nothing stored.
    url = f"{base}/main/sha"
    h = signed("PUT", url, b"original")
    r = requests.put(url, data=b"tampered", headers=h)
    assert r.status_code in (400, 403), r.text
    assert sluice.s3().list_objects_v2(Bucket=repo, Prefix="main/sha")["KeyCount"] == 0
    # Virtual-host style: the repository in the Host header.
    host = f"{repo}.localhost:{sluice.port}"
    url = f"http://{host}/main/vhost.txt"
    h = signed("PUT", url, b"virtual")
    h["Host"] = host
    r = requests.put(f"{sluice.endpoint}/main/vhost.txt", data=b"virtual", headers=h)
    assert r.status_code == 200, r.text
    assert sluice.s3().get_object(Bucket=repo, Key="main/vhost.txt")["Body"].read() == b"virtual"


def test_graceful_stop_and_sigkill_durability(tmp_path):
    server = Sluice(str(tmp_path / "data"))
    server.start()
    try:
        s3 = server.s3()
        s3.create_bucket(Bucket="durable")
        # Acknowledged writes survive SIGKILL.
        for i in range(50):
            s3.put_object(Bucket="durable", Key=f"main/k{i:03}", Body=f"v{i}".encode())
        server.stop(sig=signal.SIGKILL)
        server.start()
        s3 = server.s3()
        assert len(s3.list_objects_v2(Bucket="durable", Prefix="main/")["Contents"]) == 50
        assert s3.get_object(Bucket="durable", Key="main/k049")["Body"].read() == b"v49"

        # A slow upload in flight when SIGTERM arrives still completes and is kept.
        payload = os.urandom(4 * 1024 * 1024)

        class SlowBody:
            """A body with a known length that arrives over a couple of seconds."""
            def __init__(self):
                self.pos = 0
            def __len__(self):
                return len(payload)
            def read(self, n=-1):
                n = len(payload) if n is None or n < 0 else n
                chunk = payload[self.pos:self.pos + n]
                # Pause at every 256 KiB boundary crossed: about 1.6 s in all.
                if (self.pos + len(chunk)) // (256 * 1024) > self.pos // (256 * 1024):
                    time.sleep(0.1)
                self.pos += len(chunk)
                return chunk
        url = f"{server.endpoint}/durable/main/slow.bin"
        h = signed("PUT", url, b"", {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Content-Length": str(len(payload))})
        result = {}
        t = threading.Thread(target=lambda: result.update(r=requests.put(url, data=SlowBody(), headers=h)))
        t.start()
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        t.join(timeout=60)
        assert result["r"].status_code == 200, result["r"].text
        server.proc.wait(timeout=30)
        server.proc = None
        server.start()
        got = server.s3().get_object(Bucket="durable", Key="main/slow.bin")["Body"].read()
        assert got == payload
    finally:
        server.stop()


MiB = 1024 * 1024


def payload(name: str, size: int) -> bytes:
    """Bytes that a name and a size determine, so a reader can check them without keeping them."""
    return random.Random(name).randbytes(size)


def test_sigkill_during_large_and_multipart_writes(tmp_path):
    """SIGKILL while several clients write file-backed objects (48 KiB to 6 MiB, beyond the
    inline limit) and multipart uploads: after a restart every acknowledged object reads back
    byte for byte, an unacknowledged one is absent or whole (never partial), acknowledged
    parts of an unfinished upload still complete, and the branch commits."""
    server = Sluice(str(tmp_path / "data"))
    server.start()
    bucket = "killed"
    try:
        server.s3().create_bucket(Bucket=bucket)
        acked = {}       # key -> expected bytes' (size, sha256), once the server answered 200
        attempted = {}   # key -> expected (size, sha256), before the request left
        uploads = {}     # key -> {"id": upload id, "parts": [(number, etag, size)] acknowledged}
        stop = threading.Event()
        lock = threading.Lock()

        def expect(key, body):
            return (len(body), hashlib.sha256(body).hexdigest())

        def put_writer(name, size_of):
            """PUT `name`-numbered objects of `size_of(n)` bytes until stopped."""
            s3 = server.s3()
            n = 0
            while not stop.is_set():
                key = name(n)
                body = payload(key, size_of(n))
                n += 1
                with lock:
                    attempted[key] = expect(key, body)
                try:
                    s3.put_object(Bucket=bucket, Key=key, Body=body)
                except Exception:
                    return
                with lock:
                    acked[key] = attempted[key]

        large_sizes = [48 * 1024, MiB + 3, 6 * MiB + 17, 3 * MiB]

        def large_writer(w):
            put_writer(lambda n: f"main/large/w{w}-{n:04}", lambda n: large_sizes[n % len(large_sizes)])

        part_sizes = [5 * MiB, 5 * MiB, 700 * 1024 + 1]

        def multipart_writer(w):
            s3 = server.s3()
            n = 0
            while not stop.is_set():
                key = f"main/multipart/w{w}-{n:04}"
                n += 1
                whole = b"".join(payload(f"{key}#{i}", size) for i, size in enumerate(part_sizes, 1))
                try:
                    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
                    with lock:
                        uploads[key] = {"id": upload, "parts": []}
                        attempted[key] = expect(key, whole)
                    for i, size in enumerate(part_sizes, 1):
                        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=i,
                                              Body=payload(f"{key}#{i}", size))["ETag"]
                        with lock:
                            uploads[key]["parts"].append((i, etag, size))
                    s3.complete_multipart_upload(
                        Bucket=bucket, Key=key, UploadId=upload,
                        MultipartUpload={"Parts": [{"PartNumber": i, "ETag": e} for i, e, _ in uploads[key]["parts"]]})
                except Exception:
                    return
                with lock:
                    acked[key] = attempted[key]

        def small_writer():
            put_writer(lambda n: f"main/small/{n:05}", lambda n: 100 + n % 500)

        threads = [threading.Thread(target=large_writer, args=(w,)) for w in range(3)]
        threads += [threading.Thread(target=multipart_writer, args=(w,)) for w in range(2)]
        threads.append(threading.Thread(target=small_writer))
        for t in threads:
            t.start()

        # Kill once every kind of write has been acknowledged a few times, with more in flight.
        def count(prefix):
            with lock:
                return sum(k.startswith(prefix) for k in acked)
        deadline = time.time() + 120
        while time.time() < deadline:
            if count("main/large/") >= 6 and count("main/multipart/") >= 2 and count("main/small/") >= 5:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"writers too slow: {len(acked)} acknowledged")
        # Let the next requests get under way, then kill in the middle of them.
        time.sleep(0.3)
        server.stop(sig=signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        unacked = sorted(set(attempted) - set(acked))
        assert unacked, "something was in flight when the process died"

        server.start()
        s3 = server.s3()

        def read(key):
            try:
                return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as e:
                assert e.response["Error"]["Code"] == "NoSuchKey", e.response
                return None

        for key, want in sorted(acked.items()):
            got = read(key)
            assert got is not None, f"acknowledged {key} is gone after SIGKILL"
            assert expect(key, got) == want, f"acknowledged {key} reads back different bytes"
        for key in unacked:
            got = read(key)
            assert got is None or expect(key, got) == attempted[key], f"unacknowledged {key} is partial"

        listed = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="main/"):
            listed.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        assert set(acked) <= set(listed)
        assert set(listed) <= set(attempted), "a key nobody wrote"
        for key, size in listed.items():
            assert size == attempted[key][0], f"{key} lists {size} bytes, not {attempted[key][0]}"

        # Acknowledged parts of an upload that was not completed still complete after restart.
        completed_after = 0
        for key, up in sorted(uploads.items()):
            if key in acked or key in listed or not up["parts"]:
                continue
            parts = up["parts"]
            s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=up["id"],
                MultipartUpload={"Parts": [{"PartNumber": i, "ETag": e} for i, e, _ in parts]})
            want = b"".join(payload(f"{key}#{i}", size) for i, _, size in parts)
            assert read(key) == want, f"{key} completed after restart reads back different bytes"
            acked[key] = expect(key, want)
            completed_after += 1

        # The branch is consistent: it commits, and the commit holds every acknowledged object.
        commit = server.commit(bucket, "main", "after SIGKILL")
        for key, want in sorted(acked.items()):
            got = s3.get_object(Bucket=bucket, Key=commit + key.removeprefix("main"))["Body"].read()
            assert expect(key, got) == want, key
        print(f"acknowledged {len(acked)}, in flight {len(unacked)}, completed after restart {completed_after}")
    finally:
        server.stop()


def self_signed(folder):
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sluice test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_on_the_listener(tmp_path):
    """--tls-cert and --tls-key serve HTTPS: boto3 and the REST API work over it with the
    certificate trusted, plain HTTP on the port does not, and a bad key is refused at start."""
    import boto3
    from botocore.config import Config

    cert, key = self_signed(tmp_path)
    port = free_port()
    env = {"SLUICE_ACCESS_KEY_ID": ACCESS_KEY, "SLUICE_SECRET_ACCESS_KEY": SECRET_KEY}
    proc, lines = start(["--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{port}",
                         "--tls-cert", str(cert), "--tls-key", str(key)], env)
    try:
        assert any(f"https://127.0.0.1:{port}" in line for line in lines), lines
        endpoint = f"https://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1", verify=str(cert),
                          config=Config(s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="tls")
        s3.put_object(Bucket="tls", Key="main/a.txt", Body=b"over tls")
        assert s3.get_object(Bucket="tls", Key="main/a.txt")["Body"].read() == b"over tls"
        r = requests.get(f"{endpoint}/api/v1/repositories/tls", auth=(ACCESS_KEY, SECRET_KEY), verify=str(cert),
                         timeout=30)
        assert r.status_code == 200 and r.json()["id"] == "tls"
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/api/v1/healthcheck", timeout=10)
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{endpoint}/api/v1/healthcheck", timeout=10)  # an untrusted certificate
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    other_cert, _ = self_signed(tmp_path / "..")
    bad = subprocess.run([sluice_binary(), "run", "--data-dir", str(tmp_path / "data"), "--listen",
                          f"127.0.0.1:{free_port()}", "--tls-cert", str(other_cert), "--tls-key", str(cert)],
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "TLS" in bad.stderr, bad.stderr


def test_oversized_request_heads_are_refused(sluice):
    """A request head beyond 64 KiB is refused (431), not buffered, and the server serves on."""
    r = requests.get(f"{sluice.endpoint}/api/v1/healthcheck", headers={"x-big": "a" * 100_000}, timeout=30)
    assert r.status_code == 431
    assert requests.get(f"{sluice.endpoint}/api/v1/healthcheck", timeout=30).status_code == 204


def test_a_full_disk_refuses_writes_cleanly_and_recovers(tmp_path):
    """The data dir on a 4 MiB tmpfs, filled up: PUTs and commits get S3's and the API's
    errors (no crash, no hang, nothing half-visible), every acknowledged object still reads
    back, and once space returns writes and commits work again, across a restart too.
    Mounting needs root, as CI has; without it this test fails rather than skip."""
    import boto3
    from botocore.config import Config

    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a tmpfs (root is needed): {mounted.stderr}"
    proc = None
    try:
        port = free_port()
        env = {"SLUICE_ACCESS_KEY_ID": ACCESS_KEY, "SLUICE_SECRET_ACCESS_KEY": SECRET_KEY}
        args = ["--data-dir", str(mnt / "data"), "--listen", f"127.0.0.1:{port}"]
        proc, _ = start(args, env)
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        api = lambda method, path, **kw: requests.request(method, f"{endpoint}/api/v1{path}",
                                                          auth=(ACCESS_KEY, SECRET_KEY), timeout=60, **kw)
        s3.create_bucket(Bucket="full")
        acknowledged = {}
        for i in range(4):
            body = os.urandom(100_000 if i % 2 else 1000)
            s3.put_object(Bucket="full", Key=f"main/before/{i}", Body=body)
            acknowledged[f"main/before/{i}"] = body
        assert api("POST", "/repositories/full/branches/main/commits", json={"message": "before"}).status_code == 201
        # Fill what is left.
        filler = mnt / "filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        refused = 0
        for i, size in enumerate([200_000, 50_000, 1000, 10]):
            try:
                s3.put_object(Bucket="full", Key=f"main/during/{i}", Body=os.urandom(size))
            except ClientError as e:
                assert e.response["Error"]["Code"] in ("ServiceUnavailable", "SlowDown", "InternalError"), e.response
                refused += 1
        assert refused >= 1, "nothing was refused on a full disk"
        r = api("POST", "/repositories/full/branches/main/commits", json={"message": "during"})
        assert r.status_code in (201, 400, 500, 503), r.text
        assert proc.poll() is None, "the server died on a full disk"
        for key, body in acknowledged.items():
            assert s3.get_object(Bucket="full", Key=key)["Body"].read() == body
        # Space returns: writes and commits work again.
        filler.unlink()
        for i in range(3):
            body = os.urandom(100_000)
            s3.put_object(Bucket="full", Key=f"main/after/{i}", Body=body)
            acknowledged[f"main/after/{i}"] = body
        r = api("POST", "/repositories/full/branches/main/commits", json={"message": "after"})
        assert r.status_code == 201, r.text
        _, log = stop(proc)
        # The metadata store hit the full disk too, and came back without a restart.
        assert "reopened after an I/O error" in log, log[-2000:]
        proc, _ = start(args, env)
        for key, body in acknowledged.items():
            assert s3.get_object(Bucket="full", Key=key)["Body"].read() == body, key
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket="full", Prefix="main/")["Contents"]]
        for key in listed:  # nothing half-written is listed: every listed object reads whole
            obj = s3.get_object(Bucket="full", Key=key)
            assert len(obj["Body"].read()) == obj["ContentLength"]
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_stalled_body_is_cut_with_request_timeout(tmp_path):
    """A client that sends a request's head and then stops sending its body is answered
    S3's RequestTimeout once the body has been idle for SLUICE_BODY_IDLE_SECONDS, and
    nothing is stored; the server serves on."""
    import socket
    from urllib.parse import urlsplit

    port = free_port()
    env = {"SLUICE_ACCESS_KEY_ID": ACCESS_KEY, "SLUICE_SECRET_ACCESS_KEY": SECRET_KEY,
           "SLUICE_BODY_IDLE_SECONDS": "2"}
    proc, _ = start(["--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{port}"], env)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        h = signed("PUT", f"{endpoint}/stall")
        assert requests.put(f"{endpoint}/stall", headers=h, timeout=30).status_code == 200
        url = f"{endpoint}/stall/main/slow"
        h = signed("PUT", url, headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Content-Length": "1000"})
        h.setdefault("Host", f"127.0.0.1:{port}")
        head = f"PUT {urlsplit(url).path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(head.encode() + b"x" * 10)
        s.settimeout(20)
        started = time.time()
        answer = b""
        try:
            while b"</Error>" not in answer:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        finally:
            s.close()
        waited = time.time() - started
        assert b"400" in answer.split(b"\r\n")[0] and b"<Code>RequestTimeout</Code>" in answer, answer
        assert 1.5 < waited < 15, waited
        assert requests.head(url, headers=signed("HEAD", url), timeout=30).status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=30)
