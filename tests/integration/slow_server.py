#!/usr/bin/env python3
"""A slow HTTP server on loopback for test_queue.sh.

Usage: slow_server.py PORTFILE DELAY_S

GET /task/N answers, after DELAY_S seconds, a JSON array holding task N of
the 2024 plan. It records the most transfers it served at once in
PORTFILE.max (so the test can check the limits held).
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTFILE, DELAY = sys.argv[1], float(sys.argv[2])
lock = threading.Lock()
now = {"n": 0, "max": 0}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        with lock:
            now["n"] += 1
            now["max"] = max(now["max"], now["n"])
            with open(PORTFILE + ".max", "w") as f:
                f.write(str(now["max"]))
        time.sleep(DELAY)
        n = int(self.path.rsplit("/", 1)[1])
        body = json.dumps([{"kind": "task", "id": "jnly-2024/%02d" % n, "plan": "jnly-2024", "number": n,
                            "title": "联合做强两市优势产业 %d" % n}]).encode()
        # Counted out before the answer goes: once the client has it, it may
        # start its next transfer before this thread runs again, and that
        # one must not be counted beside this one.
        with lock:
            now["n"] -= 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
