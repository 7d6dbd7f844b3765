"""`shopbridge serve` over TLS, as an operator runs it: a real process with a self-signed
certificate generated here; clients that trust the certificate get answers over HTTPS, plain
HTTP gets nothing, and a half or broken TLS configuration stops `serve` with one line."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.helpers import free_port

CLI = [sys.executable, "-m", "shopbridge.cli"]


def write_self_signed(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_")}
    env["SHOPBRIDGE_DATA_DIR"] = str(tmp_path / "data")
    env["SHOPBRIDGE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'tls.db'}"
    return env


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return write_self_signed(tmp_path)


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def wait_https(url: str, verify: ssl.SSLContext, proc: subprocess.Popen[str]) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, verify=verify, timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


@pytest.fixture(params=["flags", "env"])
def tls_server(
    request: pytest.FixtureRequest,
    cli_env: dict[str, str],
    certificate: tuple[Path, Path],
    tmp_path: Path,
) -> Iterator[tuple[int, Path]]:
    """`serve` with TLS from the command line flags, or from SHOPBRIDGE_SSL_* variables; no
    in-process workers, to keep it light."""
    cert, key = certificate
    port = free_port()
    args = [*CLI, "serve", "--port", str(port), "--no-sync", "--no-deliver"]
    env = dict(cli_env)
    if request.param == "flags":
        args += ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    else:
        env["SHOPBRIDGE_SSL_CERTFILE"], env["SHOPBRIDGE_SSL_KEYFILE"] = str(cert), str(key)
    proc = subprocess.Popen(
        args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        if not wait_https(f"https://127.0.0.1:{port}/healthz", trusting(cert), proc):
            proc.kill()
            pytest.fail(f"TLS server did not become ready:\n{proc.communicate(timeout=10)[0]}")
        yield port, cert
    finally:
        if proc.poll() is None:
            proc.terminate()
        output, _ = proc.communicate(timeout=20)
        assert "Traceback" not in output, output
        assert f"https://127.0.0.1:{port}" in output  # the start banner names the https URL


def test_serve_answers_over_https_only(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    resp = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trusting(cert), timeout=5)
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)  # plain HTTP: no answer
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://127.0.0.1:{port}/healthz", timeout=5)  # an untrusted certificate


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def assert_one_line_usage_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_half_a_tls_configuration_is_refused(
    cli_env: dict[str, str], certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    assert_one_line_usage_error(run(["serve", "--ssl-certfile", str(cert)], cli_env), "keyfile")
    assert_one_line_usage_error(run(["serve", "--ssl-keyfile", str(key)], cli_env), "certfile")
    env = {**cli_env, "SHOPBRIDGE_SSL_CERTFILE": str(cert)}
    assert_one_line_usage_error(run(["serve"], env), "SHOPBRIDGE_SSL_KEYFILE")


def test_missing_or_unusable_files_are_refused(
    cli_env: dict[str, str], certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = certificate
    missing = tmp_path / "nope.pem"
    result = run(["serve", "--ssl-certfile", str(missing), "--ssl-keyfile", str(key)], cli_env)
    assert_one_line_usage_error(result, "does not exist")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    result = run(["serve", "--ssl-certfile", str(garbage), "--ssl-keyfile", str(key)], cli_env)
    assert_one_line_usage_error(result, "cannot load")
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    _, other_key = write_self_signed(other_dir)
    result = run(["serve", "--ssl-certfile", str(cert), "--ssl-keyfile", str(other_key)], cli_env)
    assert_one_line_usage_error(result, "cannot load")
