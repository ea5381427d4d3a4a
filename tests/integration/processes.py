"""Real Lookout processes for integration tests and benchmarks: Celery workers, beat and daphne,
pointed at the test database, the machine's Redis and the fake model server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(*, database_url: str, redis_url: str, queue: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings.base",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LOOKOUT_RUNNER="celery",
        LOOKOUT_CELERY_QUEUE=queue,
        SECRET_KEY="integration-" + "x" * 40,
        # The test sites the workers' browsers open are on loopback (project/settings/test.py does the same).
        LOOKOUT_ALLOWED_NETWORKS="127.0.0.0/8, ::1/128",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


class Proc:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not print {text!r}:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
        self.popen.wait(timeout=20)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def celery_worker(
    name: str, env: dict[str, str], log_dir: Path, *, queues: str, beat: bool = False, pool: str = "prefork",
    concurrency: int = 1,
) -> Proc:
    args = [sys.executable, "-m", "celery", "-A", "project", "worker", "-l", "INFO", f"--concurrency={concurrency}",
            f"--pool={pool}",
            "-n", f"{name}@%h", "-Q", queues, "--without-gossip", "--without-mingle"]
    if beat:
        args += ["-B", "-s", str(log_dir / f"{name}-beat-schedule")]
    proc = Proc(name, args, env, log_dir)
    proc.wait_for_output("ready.")
    return proc


def daphne(env: dict[str, str], log_dir: Path, port: int, name: str = "daphne") -> Proc:
    proc = Proc(name, [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"], env, log_dir)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.popen.poll() is not None:
                raise RuntimeError(f"daphne did not start:\n{proc.output()[-3000:]}") from None
            time.sleep(0.1)


@contextmanager
def running(*procs: Proc) -> Iterator[None]:
    try:
        yield
    finally:
        for p in procs:
            p.stop()
