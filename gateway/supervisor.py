"""Many server processes on one port: `python run.py serve --workers N`.

The supervisor applies the migrations once, then starts N workers, each `python run.py serve
--worker`: the same server as a single-process run, listening on HOST:PORT with SO_REUSEPORT, so
the kernel spreads new connections over the workers' sockets. Everything the workers share lives in
PostgreSQL and Redis (the event bus, the relay leader lock, the sweepers' row locks), which is why a
doctor's stream on one worker receives what a patient's request on another wrote.

A worker that dies is replaced (at most one start per second after repeated quick deaths, so a
worker that cannot start does not spin). SIGTERM or SIGINT: each worker gets SIGTERM and drains
(stops accepting, finishes in-flight requests, closes its streams with a retry hint); a worker still
running after the shutdown timeout plus a grace second is killed.

Why not gunicorn (with aiohttp's GunicornWebWorker): it would be a second way to start the app with
its own configuration and signal semantics for a job of ~100 lines; with SO_REUSEPORT the kernel
does the balancing, and `python run.py` stays the one entry point in every mode.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("allign.supervisor")
RUN_PY = Path(__file__).resolve().parent.parent / "run.py"
QUICK_DEATH = 5.0  # a worker that dies this soon after its start counts towards the restart brake


class Supervisor:
    def __init__(self, workers: int, shutdown_timeout: float, *, migrate_in_workers: bool = False) -> None:
        # PostgreSQL was unreachable when the supervisor tried the migrations: the workers apply them
        # once it is back (gateway.startup; an advisory lock in the migrations makes that run once).
        self.migrate_in_workers = migrate_in_workers
        self.count = workers
        self.shutdown_timeout = shutdown_timeout
        self.workers: dict[int, tuple[subprocess.Popen, float]] = {}
        self.stopping = False
        self.quick_deaths = 0

    def _start(self, slot: int) -> None:
        env = {**os.environ, "APPLY_MIGRATIONS": "true" if self.migrate_in_workers else "false",
               "ALLIGN_WORKER_SLOT": str(slot)}
        proc = subprocess.Popen([sys.executable, str(RUN_PY), "serve", "--worker"], env=env)
        self.workers[slot] = (proc, time.monotonic())
        log.info("worker %d started (pid %d)", slot, proc.pid)

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for slot in range(self.count):
            self._start(slot)
        while not self.stopping:
            time.sleep(0.1)
            for slot, (proc, started) in list(self.workers.items()):
                if proc.poll() is None or self.stopping:
                    continue
                log.warning("worker %d (pid %d) exited with %s; starting another", slot, proc.pid, proc.returncode)
                self.quick_deaths = self.quick_deaths + 1 if time.monotonic() - started < QUICK_DEATH else 0
                if self.quick_deaths > 3:
                    time.sleep(1.0)
                self._start(slot)
        return self._drain()

    def _drain(self) -> int:
        for proc, _ in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.shutdown_timeout + 1.0
        for proc, _ in self.workers.values():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d still running after the shutdown timeout: killed", proc.pid)
                proc.kill()
                proc.wait()
        return 0
