"""A bounded load test of the Space, loopback only: N concurrent gradio_client sessions on mixed
endpoints for T seconds (valid requests, and a few invalid ones that must be refused).

    python tools/load_test.py --clients 8 --seconds 120        # starts `python app.py` itself
    python tools/load_test.py --url http://127.0.0.1:7860/ --pid 1234   # a running server

Prints failed valid requests, latency p50/p95 and the server's peak RSS (psutil, with its child
processes). The bench group `space` (lgfa_lite/bench/group_space.py) runs the same code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lgfa_lite.bench.group_space import load_test, shipped, start_server, stop_server  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--url", help="a server already running on loopback (else app.py is started)")
    p.add_argument("--pid", type=int, help="that server's process id (for its RSS)")
    args = p.parse_args(argv)
    if args.url and not args.url.startswith(("http://127.0.0.1", "http://localhost")):
        p.error("loopback only: --url must be http://127.0.0.1:PORT/ or http://localhost:PORT/")
    if args.url and not args.pid:
        p.error("--url needs --pid (the server's process, for its RSS)")
    proc = None
    if args.url:
        url, pid = args.url, args.pid
    else:
        proc, url, cold = start_server()
        pid = proc.pid
        print(f"app.py served its first page after {cold:.1f} s")
    tabs = [t for t in ("lgfa", "auclip", "projection") if t == "projection" or shipped(t)]
    try:
        r = load_test(url, pid, args.clients, args.seconds, tabs=tabs)
    finally:
        if proc is not None:
            stop_server(proc)
    for k, v in r.items():
        print(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}")
    return 1 if r["load_test_failed_valid_requests"] else 0


if __name__ == "__main__":
    sys.exit(main())
