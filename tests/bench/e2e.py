#!/usr/bin/python3
"""The driver of run.sh e2e: e2e.py ROOT BUILD WORK

WORK holds the bodies of gen-records.py --e2e (v1/, v2/, k/). Serves them on
127.0.0.1 (a thread of this process: /s/NNN.json is v1 or v2, the 1% change,
/k/NNNN.json the 1,000 small sources), with a strong ETag per body and 304 on
a matching If-None-Match unless told to ignore it. Runs, each in its own
child process timed (wall) with its peak resident memory:
duikou's four rounds, the git scraping peer's full sync and 1% re-sync, the
floor, and duikou on 1,000 sources; then prints the table.

Peak memory is read from /proc every 20 ms, for the process and all its
descendants: the larger of the highest VmHWM of one process (its own peak,
exact) and the highest sum of VmRSS of the tree at one sample (the scraper
and its git running at once). Not ru_maxrss: Linux starts a child's maxrss
at its parent's peak (it is carried over fork and exec), so every child of
this driver, which holds the 160 MB of bodies it serves, would read at least
that."""
import hashlib
import http.server
import os
import re
import subprocess
import sys
import threading
import time

root, build, work = sys.argv[1:4]
bodies = {}
for sub in ["v1", "v2", "k"]:
    for name in sorted(os.listdir(os.path.join(work, sub))):
        data = open(os.path.join(work, sub, name), "rb").read()
        bodies[(sub, name)] = (data, '"%s"' % hashlib.sha1(data).hexdigest())
small = sorted(n for s, n in bodies if s == "k")
big = sorted(n for s, n in bodies if s == "v1")
ctl = {"version": "v1", "ignore_inm": False, "304": 0, "200": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        m = re.fullmatch(r"/(s|k)/([0-9]+\.json)", self.path)
        key = (ctl["version"] if m and m.group(1) == "s" else "k", m.group(2)) if m else None
        if key not in bodies:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data, etag = bodies[key]
        if not ctl["ignore_inm"] and self.headers.get("If-None-Match") == etag:
            ctl["304"] += 1
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        ctl["200"] += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
threading.Thread(target=srv.serve_forever, daemon=True).start()
base = "http://127.0.0.1:%d" % srv.server_address[1]


def status_kb(pid, key):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children(pid):
    kids = []
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            kids += [int(c) for c in open("/proc/%d/task/%s/children" % (pid, t)).read().split()]
    except (OSError, ValueError):
        pass
    return kids


def watch(pid, peak, done):
    while not done.is_set():
        todo, tree = [pid], 0
        while todo:
            p = todo.pop()
            peak[0] = max(peak[0], status_kb(p, "VmHWM:"))
            tree += status_kb(p, "VmRSS:")
            todo += children(p)
        peak[0] = max(peak[0], tree)
        done.wait(0.02)


def run(cmd, **kw):
    """(seconds, peak MB, stdout) of one child process; fails on exit != 0."""
    out = open(os.path.join(work, "out.txt"), "w+")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, **kw)
    peak, done = [0], threading.Event()
    w = threading.Thread(target=watch, args=(p.pid, peak, done))
    w.start()
    err = p.stderr.read()
    _, status, _ = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t0
    done.set()
    w.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    text = out.read()
    out.close()
    if p.returncode != 0:
        sys.exit("e2e: %s exited %d: %s%s" % (" ".join(cmd[:3]), p.returncode, text[-2000:], err.decode()[-2000:]))
    return secs, peak[0] / 1024.0, text


def config(name, sub, names):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write("repository: %s/%s.git\nstate: %s/%s-state\nlog_level: warn\n" % (work, name, work, name))
        f.write("plugins: %s/plugins\n" % build)
        f.write("sources:\n")
        for n in names:
            f.write('  - { name: "%s%s", plugin: json-api, city: jinan, url: "%s/%s/%s", timeout: 10m, max_body: 64M }\n'
                    % (sub, n[:-5], base, sub, n))
    return path


def committed(text, want):
    n = len(re.findall(r" committed ", text))
    if n != want:
        sys.exit("e2e: %d sources committed, expected %d:\n%s" % (n, want, text[-3000:]))
    return n


env = dict(os.environ, DUIKOU_PLUGIN_DIR=os.path.join(build, "plugins"))
dk = [os.path.join(build, "duikou"), "sync", "-c"]
res = {}

# duikou, 50 sources of 2,000 records.
c50 = config("dk50", "s", big)
res["full"] = run(dk + [c50], env=env)
committed(res["full"][2], 50)
ctl["ignore_inm"] = True
ctl["200"] = ctl["304"] = 0
res["same"] = run(dk + [c50], env=env)
assert ctl["200"] == 50 and ctl["304"] == 0, ctl
if re.search(r" committed ", res["same"][2]):
    sys.exit("e2e: the unchanged re-sync committed:\n" + res["same"][2][-2000:])
# What no re-sync can go below while the server sends whole bodies: the
# transfer of the 50 bodies alone (curl, 4 at a time like duikou's
# max_per_host, to /dev/null).
fetch_cmd = ["curl", "-s", "--parallel", "--parallel-max", "4"]
for n in big:
    fetch_cmd += ["-o", "/dev/null", "%s/s/%s" % (base, n)]
res["transfer"] = run(fetch_cmd)
ctl["ignore_inm"] = False
ctl["version"] = "v2"
res["pct"] = run(dk + [c50], env=env)
committed(res["pct"][2], 50)  # every source holds 20 of the 1,000 changed records
changed = sum(int(m) for m in re.findall(r"([0-9]+) changed", res["pct"][2]))
ctl["200"] = ctl["304"] = 0
res["304"] = run(dk + [c50], env=env)
assert ctl["304"] == 50 and ctl["200"] == 0, ctl

if os.environ.get("E2E_ONLY") == "duikou":
    # a developer's quick run: duikou's four rounds and the floor only
    res["floor"] = run([os.path.join(build, "tests/bench/bench_floor")] + [os.path.join(work, "v1", n) for n in big])
    for k in ["full", "same", "pct", "304", "transfer", "floor"]:
        print("%-6s %8.2f s %6.0f MB" % (k, res[k][0], res[k][1]))
    print("full/floor %.2f  1%%/full %.3f  same/full %.3f  transfer/full %.3f" % (res["full"][0] / res["floor"][0],
          res["pct"][0] / res["full"][0], res["same"][0] / res["full"][0], res["transfer"][0] / res["full"][0]))
    srv.shutdown()
    sys.exit(0)

# The git scraping peer, on the same bodies: v1, then v2.
tree = os.path.join(work, "scrape")
os.makedirs(tree)
subprocess.run(["git", "init", "-q", "-b", "main", tree], check=True)
for k, v in [("user.name", "bench"), ("user.email", "bench@duikou.invalid")]:
    subprocess.run(["git", "-C", tree, "config", k, v], check=True)
scrape = ["/usr/bin/python3", os.path.join(root, "tests/bench/git-scrape.py"), os.path.join(root, "schemas"), tree]
ctl["version"] = "v1"
res["git_full"] = run(scrape + ["%s/s/%s" % (base, n) for n in big])
ctl["version"] = "v2"
res["git_pct"] = run(scrape + ["%s/s/%s" % (base, n) for n in big])
git_changed = int(subprocess.run(["git", "-C", tree, "diff", "--name-only", "HEAD~50", "HEAD"], check=True,
                                 stdout=subprocess.PIPE).stdout.count(b"\n"))
same_tree = subprocess.run(["git", "--git-dir", os.path.join(work, "dk50.git"), "rev-parse", "main^{tree}"],
                           stdout=subprocess.PIPE).stdout == subprocess.run(
    ["git", "-C", tree, "rev-parse", "HEAD^{tree}"], stdout=subprocess.PIPE).stdout

# The floor, on the same 50 bodies (v1) from disk.
res["floor"] = run([os.path.join(build, "tests/bench/bench_floor")] + [os.path.join(work, "v1", n) for n in big])

# duikou, 1,000 sources of 100 records, into an empty repository.
res["k"] = run(dk + [config("dk1000", "k", small)], env=env)
nk = committed(res["k"][2], 1000)

f = lambda k: res[k][0]
mb = lambda k: res[k][1]
print("100,000 records (10,000 tasks, 90,000 progress reports), 50 sources of 2,000 on 127.0.0.1")
print("%-34s %9s %8s %9s %8s %9s %8s" % ("", "duikou s", "MB", "git s", "MB", "floor s", "MB"))
print("%-34s %9.2f %8.0f %9.2f %8.0f %9.2f %8.0f" % ("full sync, empty repository", f("full"), mb("full"),
                                                    f("git_full"), mb("git_full"), f("floor"), mb("floor")))
print("%-34s %9.2f %8.0f" % ("same bodies again, no 304", f("same"), mb("same")))
print("%-34s %9.2f %8.0f %9.2f %8.0f" % ("1%% changed (%d records)" % changed, f("pct"), mb("pct"),
                                         f("git_pct"), mb("git_pct")))
print("%-34s %9.2f %8.0f" % ("304 Not Modified", f("304"), mb("304")))
print("%-34s %9.2f %8.0f" % ("transfer of the 50 bodies (curl)", f("transfer"), mb("transfer")))
print("%-34s %9.2f %8.0f" % ("1,000 sources of 100 (%d committed)" % nk, f("k"), mb("k")))
print()
print("full sync / floor     %6.1f" % (f("full") / f("floor")))
print("git / duikou, full    %6.2f" % (f("git_full") / f("full")))
print("git / duikou, 1%%      %6.2f" % (f("git_pct") / f("pct")))
print("1%% re-sync / full     %6.3f" % (f("pct") / f("full")))
print("unchanged / full      %6.3f" % (f("same") / f("full")))
print("304 / full            %6.3f" % (f("304") / f("full")))
print("transfer / full       %6.3f   (the bodies' transfer alone: no re-sync of whole bodies is cheaper)" %
      (f("transfer") / f("full")))
print("1,000 sources / 50    %6.2f" % (f("k") / f("full")))
print("git peer: %d paths changed by the 1%% round; its tree %s duikou's main" %
      (git_changed, "is" if same_tree else "differs from"))
srv.shutdown()
