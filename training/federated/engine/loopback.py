"""A local SuperLink and N SuperNodes on loopback, started as Flower documents them (demo, tests, runconsole).

Each SuperNode gets its own folder (its dataset, its FLWR_HOME) and its own P-384 key registered with the
SuperLink (node authentication on), so the SuperLink's node list tells which silo is online. Transport is TLS with
a throw-away loopback CA (Flower requires TLS for node authentication); production uses the site's certificates.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from training.federated.engine.flower_cli import FlowerCli, FlowerError, SuperLinkAddress, child_env, flwr_bin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_node_key(folder: Path) -> tuple[Path, Path]:
    """An EC P-384 key pair in OpenSSH format (what `flower-supernode` and `flwr supernode register` read)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private, public = folder / "node_key", folder / "node_key.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    os.chmod(private, 0o600)
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    return private, public


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)  # the whole group: its ClientApp/ServerApp children too
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=20)


def _spawn(name: str, cmd: list[str], folder: Path, home: Path) -> Process:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    handle = log.open("ab")
    popen = subprocess.Popen(
        cmd, stdout=handle, stderr=subprocess.STDOUT, env=child_env(home), cwd=folder, start_new_session=True
    )
    handle.close()
    return Process(name, popen, log)


def write_loopback_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost (Flower's node auth requires TLS)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rmn-console loopback CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA384())
    )
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA384())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    os.chmod(key_file, 0o600)
    return ca_file, cert_file, key_file


def start_superlink(folder: Path, port: int | None = None) -> tuple[Process, SuperLinkAddress]:
    port = port or free_port()
    ca, cert, key = write_loopback_tls(folder / "tls")
    cmd = [
        flwr_bin("flower-superlink"),
        "--ssl-certfile",
        str(cert),
        "--ssl-keyfile",
        str(key),
        "--ssl-ca-certfile",
        str(ca),
        "--enable-supernode-auth",
        "--disable-runtime-dependency-installation",
        "--database",
        str(folder / "superlink.db"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = _spawn("superlink", cmd, folder, folder / "home")
    return proc, SuperLinkAddress(f"127.0.0.1:{port}", insecure=False, root_certificates=str(ca))


def wait_for_superlink(cli: FlowerCli, proc: Process, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise FlowerError(f"the SuperLink exited (log: {proc.log})")
        try:
            cli.nodes()
            return
        except FlowerError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def node_config_string(values: dict[str, str]) -> str:
    import json

    return " ".join(f"{k}={json.dumps(v)}" for k, v in values.items())


def start_supernode(
    folder: Path, link: SuperLinkAddress, node_config: dict[str, str], private_key: Path
) -> Process:
    cmd = [
        flwr_bin("flower-supernode"),
        "--root-certificates",
        link.root_certificates,
        "--superlink",
        link.address,
        "--auth-supernode-private-key",
        str(private_key),
        "--node-config",
        node_config_string(node_config),
        "--port",
        str(free_port()),
    ]
    return _spawn("supernode", cmd, folder, folder / "home")


@dataclass
class Federation:
    """A running loopback federation: the SuperLink, the SuperNodes by silo name, and where each keeps its files."""

    root: Path
    superlink: Process
    link: SuperLinkAddress
    cli: FlowerCli
    nodes: dict[str, Process] = field(default_factory=dict)
    node_ids: dict[str, int] = field(default_factory=dict)

    def add_silo(self, name: str, dataset: Path, extra: dict[str, str] | None = None) -> int:
        folder = self.root / "silos" / name
        private, public = write_node_key(folder / "keys")
        node_id = self.cli.register_node(public, name)
        config = {"silo-name": name, "dataset-path": str(dataset), **(extra or {})}
        self.nodes[name] = start_supernode(folder, self.link, config, private)
        self.node_ids[name] = node_id
        return node_id

    def online(self) -> set[int]:
        return {int(n["node-id"]) for n in self.cli.nodes() if n.get("status") == "online"}

    def wait_online(self, names: list[str] | None = None, timeout: float = 120.0) -> None:
        wanted = {self.node_ids[n] for n in (names or list(self.node_ids))}
        deadline = time.monotonic() + timeout
        while not wanted <= self.online():
            for name, proc in self.nodes.items():
                if not proc.alive() and self.node_ids[name] in wanted:
                    raise FlowerError(f"SuperNode {name} exited (log: {proc.log})")
            if time.monotonic() > deadline:
                raise FlowerError("SuperNodes did not come online in time")
            time.sleep(0.5)

    def stop(self) -> None:
        for proc in self.nodes.values():
            proc.kill(signal.SIGTERM)
        self.superlink.kill(signal.SIGTERM)


def start_federation(root: Path, console_home: Path, port: int | None = None) -> Federation:
    proc, link = start_superlink(root / "superlink", port)
    cli = FlowerCli(console_home, link)
    try:
        wait_for_superlink(cli, proc)
    except Exception:
        proc.kill()
        raise
    return Federation(root, proc, link, cli)
