"""Allign API v2 entry point.

    python run.py [serve] [--workers N]      start the server (default); N processes on one port
    python run.py migrate                    apply database migrations
    python run.py import-catalog KIND FILE   load medicines or lab-tests from a CSV file
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import sys

from config import ConfigError, Settings, check_listen_address, load_settings


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    uvloop.install()


def _banner(settings: Settings) -> None:
    workers = f", {settings.workers} workers" if settings.workers > 1 else ""
    print(f"Allign API v2 listening on {settings.base_url} (env={settings.env}{workers})", flush=True)
    print(f"  API under {settings.base_url}/api/v2   health: {settings.base_url}/healthz", flush=True)
    print(f"  docs: {settings.base_url}/api/v2/docs   realtime (SSE, websocket): {settings.base_url}/api/v2/docs/realtime",
          flush=True)
    if not settings.is_production:
        from gateway.seed import login_help
        for line in login_help(settings):
            print("  " + line, flush=True)


def supervise(settings: Settings) -> int:
    from gateway.supervisor import Supervisor

    deferred = False
    if settings.apply_migrations:
        from gateway.startup import database_unreachable
        try:
            migrate(settings)
        except Exception as exc:
            if not database_unreachable(exc):
                raise
            print("PostgreSQL is unreachable: the workers answer 503 and apply the migrations once it is back",
                  file=sys.stderr, flush=True)
            deferred = True
    _banner(settings)
    return Supervisor(settings.workers, shutdown_timeout=settings.shutdown_timeout, migrate_in_workers=deferred).run()


def _raise_file_limit(wanted: int = 65536) -> None:
    """Each held stream or socket is a file descriptor: lift the soft limit towards the hard one
    (10,000 connections per process need more than the usual 1,024), and say when it cannot."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        logging.getLogger("allign").warning(
            "open files limited to %d (hard limit): at most about that many connections per process", target)


def serve(settings: Settings, *, worker: bool = False) -> None:
    from aiohttp import web

    from gateway.app import create_app

    _install_uvloop()
    _raise_file_limit()
    app = create_app(settings)

    async def announce(app: web.Application) -> None:
        _banner(settings)

    async def tune_collector(app: web.Application) -> None:
        # A full collection stops the process while it walks every object: ~170k at start-up, plus
        # ~70 per open websocket. Start-up objects live as long as the process, so they are frozen
        # out of those passes; and collections run less often (young generation 10,000 instead of
        # 700, a full pass every 100 middle ones instead of 10), so that under load a 50-70 ms full
        # pass comes every few minutes, not every few seconds (bench/README.md: p99 at 400 msg/s
        # ~100 ms → ~18 ms). Cyclic garbage waits longer for its pass; little of it lives that long.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 10, 100)

    if not worker:
        app.on_startup.append(announce)
    app.on_startup.append(tune_collector)
    # run_app stops accepting on SIGTERM/SIGINT, runs on_shutdown (SSE streams end with a short
    # `retry`, websockets close with 1012), waits for in-flight requests up to SHUTDOWN_TIMEOUT
    # (then cancels them: their transactions roll back), then cleanup contexts close the pools.
    # A worker shares the port with its siblings (SO_REUSEPORT: the kernel balances connections).
    web.run_app(app, host=settings.host, port=settings.port, shutdown_timeout=settings.shutdown_timeout,
                reuse_port=worker or None,
                access_log=None, print=None, handle_signals=True)


def migrate(settings: Settings) -> None:
    from storage.migrate import upgrade

    upgrade(settings.database_url)
    print("migrations applied", flush=True)


def import_catalog(settings: Settings, kind: str, path: str) -> int:
    from storage.catalog_import import run_import

    return run_import(settings, kind, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.py", description="Allign API v2")
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="start the server (default)")
    serve_cmd.add_argument("--workers", type=int, help="server processes on the port (default: WORKERS)")
    serve_cmd.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # started by the supervisor
    sub.add_parser("migrate", help="apply database migrations")
    imp = sub.add_parser("import-catalog", help="load a catalog CSV")
    imp.add_argument("kind", choices=["medicines", "lab-tests"])
    imp.add_argument("file")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings)
    if args.command == "migrate":
        migrate(settings)
    elif args.command == "import-catalog":
        return import_catalog(settings, args.kind, args.file)
    else:
        if getattr(args, "workers", None):
            if args.workers < 1:
                print("configuration error: --workers must be at least 1", file=sys.stderr)
                return 2
            settings = dataclasses.replace(settings, workers=args.workers)
        try:
            check_listen_address(settings)
        except ConfigError as exc:
            print(f"configuration error: {exc}", file=sys.stderr)
            return 2
        if settings.workers > 1 and not getattr(args, "worker", False):
            return supervise(settings)
        serve(settings, worker=getattr(args, "worker", False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
