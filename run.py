"""Allign API v2 entry point.

    python run.py [serve]                    start the server (default)
    python run.py migrate                    apply database migrations
    python run.py import-catalog KIND FILE   load medicines or lab-tests from a CSV file
"""
from __future__ import annotations

import argparse
import gc
import logging
import sys

from config import ConfigError, Settings, load_settings


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


def serve(settings: Settings) -> None:
    from aiohttp import web

    from gateway.app import create_app

    _install_uvloop()
    app = create_app(settings)

    async def announce(app: web.Application) -> None:
        print(f"Allign API v2 listening on {settings.base_url} (env={settings.env})", flush=True)
        print(f"  API under {settings.base_url}/api/v2   health: {settings.base_url}/healthz", flush=True)
        if not settings.is_production:
            from gateway.seed import login_help
            for line in login_help(settings):
                print("  " + line, flush=True)

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

    app.on_startup.append(announce)
    app.on_startup.append(tune_collector)
    # run_app stops accepting on SIGTERM/SIGINT, runs on_shutdown (streams close), waits for
    # in-flight requests up to shutdown_timeout, then cleanup contexts close the pools.
    web.run_app(app, host=settings.host, port=settings.port, shutdown_timeout=10,
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
    sub.add_parser("serve", help="start the server (default)")
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
        serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
