#!/usr/bin/env python3
"""A hostile HTTP server on loopback for test_security.sh.

Usage: hostile_server.py PORTFILE LOGFILE [OTHER_PORT]

Serves what a careless gateway or an attacker would, each on its own path:
  /echo-error     500 whose page echoes the request's Authorization header
  /echo-record    200 JSON: one valid task, one whose title is the Authorization header
  /page1          200 JSON: one valid task and a next page on another origin
                  (http://127.0.0.1:OTHER_PORT/page2)
  /page2          200 JSON: one more valid task (the other origin's side)
  /nested         200 JSON: one valid task, one nested 2,000 levels deep, one of 2 MB
  /numbers        200 JSON: one valid task, one with a 30-digit number, one with 1e999999
  /names          200 JSON: units with names git and terminals cannot carry
  /many           200 JSON: 399 tasks with incompressible text (a commit of a pack)
Every request is logged to LOGFILE as "PATH AUTH" (AUTH: yes or no).
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTFILE, LOGFILE = sys.argv[1], sys.argv[2]
OTHER = sys.argv[3] if len(sys.argv) > 3 else None


def task(n, **kw):
    rec = {"kind": "task", "id": "jnly-2024/%02d" % n, "plan": "jnly-2024", "number": n,
           "title": "联合做强两市优势产业 %d" % n}
    rec.update(kw)
    return rec


def nested(depth):
    """JSON text of an object nested `depth` levels (json.dumps would recurse)."""
    return '{"a": ' * depth + '"bottom"' + '}' * depth


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        auth = self.headers.get("Authorization")
        path = self.path.split("?")[0]
        with open(LOGFILE, "a") as f:
            f.write("%s %s\n" % (path, "yes" if auth else "no"))
        if path == "/echo-error":
            self.send(500, "<h1>Bad gateway</h1><p>upstream refused: Authorization: %s</p>" % auth, "text/plain")
        elif path == "/echo-record":
            self.send(200, json.dumps([task(1), task(2, title="echo %s" % auth)], ensure_ascii=False))
        elif path == "/page1":
            self.send(200, json.dumps({"records": [task(1)],
                                       "next": "http://127.0.0.1:%s/page2" % OTHER}))
        elif path == "/page2":
            self.send(200, json.dumps({"records": [task(2)]}))
        elif path == "/nested":
            deep = json.dumps(task(2, extra={"deep": "X"})).replace('"X"', nested(2000))
            self.send(200, "[%s, %s, %s]" % (json.dumps(task(1)), deep,
                                             json.dumps(task(3, text="长" * 700000), ensure_ascii=False)))
        elif path == "/many":
            import hashlib
            self.send(200, json.dumps([task(n, text=hashlib.sha512(b"%d" % n).hexdigest() * 3)
                                       for n in range(1, 400)]))
        elif path == "/numbers":
            body = ('[%s, {"kind": "task", "id": "jnly-2024/2", "plan": "jnly-2024", "number": 123456789012345678901234567890, "title": "big"},'
                    ' {"kind": "task", "id": "jnly-2024/3", "plan": "jnly-2024", "number": 3, "title": "huge", "extra": {"x": 1e999999}}]'
                    % json.dumps(task(1)))
            self.send(200, body)
        elif path == "/names":
            units = [{"kind": "unit", "id": "jinan/" + n, "name": "x", "city": "jinan"}
                     for n in ["教育局", "a" * 10000, "bad\u0085name", "bad\u009bname", "evil\u202etxt.exe",
                               "esc\u001b[31mred"]]
            self.send(200, json.dumps(units, ensure_ascii=False))
        else:
            self.send(404, "no such path", "text/plain")


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
