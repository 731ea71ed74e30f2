"""What the middlewares cost per request: the same no-op handler served bare and behind the app's
middleware chain (gateway.app.MIDDLEWARES, plus its response hook gateway.middlewares.secure_response),
under the same wrk load.

    .venv/bin/python bench/middlewares.py               # 2 × 10 s
    .venv/bin/python bench/middlewares.py --serve CHAIN PORT   # (internal: one server)

Prints requests/s and server CPU per request for both, and the difference: the chain's cost.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from aiohttp import web  # noqa: E402

from rest import ensure_wrk, run_wrk  # noqa: E402
from tests.servers import free_port  # noqa: E402


def serve(chain: str, port: int) -> None:
    import uvloop

    from gateway import keys
    from gateway.app import MIDDLEWARES
    from gateway.jsonutil import json_response
    from gateway.metrics import Metrics

    async def noop(request: web.Request) -> web.Response:
        return json_response({"ok": True})

    app = web.Application(middlewares=MIDDLEWARES if chain == "app" else [])
    if chain == "app":
        from gateway.middlewares import secure_response
        app.on_response_prepare.append(secure_response)
    app[keys.METRICS] = Metrics()
    app.router.add_get("/noop/{id}", noop)
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=uvloop.new_event_loop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", nargs=2, metavar=("CHAIN", "PORT"))
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    wrk = ensure_wrk()
    figures = {}
    for chain in ("bare", "app"):
        port = free_port()
        proc = subprocess.Popen([sys.executable, __file__, "--serve", chain, str(port)], stdout=subprocess.PIPE,
                                text=True)
        try:
            assert proc.stdout is not None and "ready" in proc.stdout.readline()
            time.sleep(0.5)
            url = f"http://127.0.0.1:{port}/noop/123"
            run_wrk(wrk, url, proc.pid, duration=2, connections=args.connections, headers={})  # warm-up
            figures[chain] = run_wrk(wrk, url, proc.pid, duration=args.duration, connections=args.connections,
                                     headers={})
        finally:
            proc.terminate()
            proc.wait()
        print(f"{chain:>5}: {figures[chain].rps:8.0f} req/s, {figures[chain].cpu_ms * 1000:6.1f} µs server CPU per request",
              flush=True)
    cost = (figures["app"].cpu_ms - figures["bare"].cpu_ms) * 1000
    print(f"middleware chain: {cost:.1f} µs of server CPU per request "
          f"({figures['app'].rps / figures['bare'].rps:.2f}× the bare throughput)")


if __name__ == "__main__":
    main()
