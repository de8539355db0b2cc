#!/usr/bin/env bash
# The HTTP engine's manners, seen from a real server on loopback: the
# User-Agent, gzip, conditional requests, bearer and basic auth; TLS
# verification and a CA file; proxies
# (city-sim answers absolute-form requests, as a proxy does); the per-host
# connection limit.
. "$TEST_LIB"

# A server that records every request's headers and answers gzip when asked.
cat >"$WORK/echo.py" <<'PY'
import gzip, http.server, json, sys
body = open(sys.argv[1], "rb").read()
log = open(sys.argv[2], "a")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        log.write(json.dumps({k.lower(): v for k, v in self.headers.items()}) + "\n"); log.flush()
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304); self.send_header("ETag", '"v1"'); self.end_headers(); return
        data, enc = body, None
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            data, enc = gzip.compress(body), "gzip"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("ETag", '"v1"')
        self.send_header("Last-Modified", "Sun, 30 Jun 2024 09:00:00 GMT")
        if enc: self.send_header("Content-Encoding", enc)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers(); self.wfile.write(data)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[3], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
start_sim
curl -sf "$SIM_URL/jinan/tasks.json" -o "$WORK/records.json"
python3 "$WORK/echo.py" "$WORK/records.json" "$WORK/headers.log" "$WORK/echo.port" &
ECHO_PID=$!
trap 'kill $ECHO_PID 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 100); do [ -s "$WORK/echo.port" ] && break; sleep 0.05; done
ECHO="http://127.0.0.1:$(cat "$WORK/echo.port")"

export JINAN_TOKEN="tok-$$-secret"
printf 'pw-%s-secret\n' "$$" >"$WORK/linyi.pw"
cat >"$WORK/h.yaml" <<YAML
repository: snap.git
state: state
sources:
  - name: bearer
    plugin: json-api
    city: jinan
    url: "$ECHO/a.json"
    auth: { bearer_env: JINAN_TOKEN }
  - name: basic
    plugin: json-api
    city: linyi
    url: "$ECHO/b.json"
    auth: { basic_user: linyi-oa, basic_password_file: linyi.pw }
YAML
check_status "a round against the echo server" 0 "$DUIKOU" sync -c "$WORK/h.yaml"
hdr() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("authorization", "").startswith(sys.argv[2]): print(d.get(sys.argv[3], ""))' "$WORK/headers.log" "$1" "$2" | tail -n 1; }
check_eq "User-Agent: duikou/VERSION" "duikou/$("$DUIKOU" version | sed -n 's/^duikou \([^ ]*\).*/\1/p')" "$(hdr Bearer user-agent)"
check_grep "Accept-Encoding offers gzip" '"accept-encoding": "[^"]*gzip' "$WORK/headers.log"
check_eq "a gzip body is decoded: 32 records committed" 32 "$(git --git-dir "$WORK/snap.git" ls-tree -r --name-only main | wc -l)"
check_eq "the bearer token from the environment" "Bearer $JINAN_TOKEN" "$(hdr Bearer authorization)"
check_eq "basic auth from a password file" "Basic $(printf 'linyi-oa:pw-%s-secret' $$ | base64)" "$(hdr Basic authorization)"
check_status "a second round" 0 "$DUIKOU" sync -c "$WORK/h.yaml"
check_grep "... sends the ETag back" "bearer *not modified" "$WORK/last.out"
check_eq "If-None-Match is the last good ETag" '"v1"' "$(hdr Bearer if-none-match)"
check_eq "If-Modified-Since is the last good Last-Modified" "Sun, 30 Jun 2024 09:00:00 GMT" "$(hdr Bearer if-modified-since)"
check_no_grep "secrets never reach the state" "secret" <(cat "$WORK"/state/sources/*.json)
check_no_grep "... nor the repository" "secret" <(git --git-dir "$WORK/snap.git" log --format=%B main)
check_no_grep "... nor the log" "secret" "$WORK/last.err"

# Through a proxy: the host name cannot be resolved, only the proxy (city-sim,
# which answers absolute-form requests) can reach it.
cat >"$WORK/p.yaml" <<YAML
repository: proxied.git
state: pstate
http: { proxy: "$SIM_URL" }
sources:
  - name: via-proxy
    plugin: json-api
    city: jinan
    url: "http://jinan-register.invalid/jinan/tasks.json"
    retries: 0
  - name: no-proxy
    plugin: json-api
    city: linyi
    url: "http://linyi-oa.invalid/jinan/tasks.json"
    proxy: ""
    retries: 0
YAML
check_status "a round with a proxy" 1 env http_proxy="$SIM_URL" "$DUIKOU" sync -c "$WORK/p.yaml"
check_grep "http.proxy carries the request" "via-proxy *committed" "$WORK/last.out"
check_grep "proxy: \"\" goes direct, even with http_proxy set" "no-proxy *FAILED: fetch failed: .*\(resolve\|Resolve\)" "$WORK/last.out"

# TLS is verified: a self-signed server is refused, unless its certificate
# is given as the source's ca_file.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$WORK/tls.key" -out "$WORK/tls.pem" 2>/dev/null
cat >"$WORK/tls.py" <<'PY'
import http.server, ssl, sys
body = open(sys.argv[1], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
open(sys.argv[4], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$WORK/tls.py" "$WORK/records.json" "$WORK/tls.pem" "$WORK/tls.key" "$WORK/tls.port" 2>/dev/null &
TLS_PID=$!
trap 'kill $ECHO_PID $TLS_PID 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 100); do [ -s "$WORK/tls.port" ] && break; sleep 0.05; done
TLS="https://127.0.0.1:$(cat "$WORK/tls.port")"
cat >"$WORK/t.yaml" <<YAML
repository: tls.git
state: tstate
sources:
  - { name: unknown-ca, plugin: json-api, city: jinan, url: "$TLS/a.json", retries: 0 }
  - { name: our-ca, plugin: json-api, city: linyi, url: "$TLS/b.json", ca_file: tls.pem }
YAML
check_status "a round against a self-signed server" 1 env -u SSL_CERT_FILE -u CURL_CA_BUNDLE "$DUIKOU" sync -c "$WORK/t.yaml"
check_grep "an unknown CA is refused (verification is on)" "unknown-ca *FAILED: fetch failed: .*\(certificate\|SSL\)" "$WORK/last.out"
check_grep "the source's ca_file makes it trusted" "our-ca *committed" "$WORK/last.out"

# A proxy that wants credentials: they go to the proxy (the echo server, which
# answers absolute-form requests too) in Proxy-Authorization, from a file.
printf 'proxy-%s-secret\n' "$$" >"$WORK/proxy.pw"
cat >"$WORK/pa.yaml" <<YAML
repository: proxied-auth.git
state: pastate
http:
  proxy: "$ECHO"
  proxy_auth: { basic_user: office-jn, basic_password_file: proxy.pw }
sources:
  - { name: behind-proxy, plugin: json-api, city: jinan, url: "http://register.jinan.invalid/p.json", retries: 0 }
YAML
: >"$WORK/headers.log"
check_status "a round through a proxy that wants credentials" 0 "$DUIKOU" sync -c "$WORK/pa.yaml"
check_eq "Proxy-Authorization carries them" "Basic $(printf 'office-jn:proxy-%s-secret' $$ | base64)" \
  "$(python3 -c 'import json,sys; print([json.loads(l).get("proxy-authorization","") for l in open(sys.argv[1])][-1])' "$WORK/headers.log")"
check_no_grep "the proxy secret is not in the log" "proxy-$$-secret" "$WORK/last.err"
check_no_grep "... nor the state" "proxy-$$-secret" <(cat "$WORK"/pastate/sources/*.json)
printf 'repository: x.git\nhttp: {proxy_auth: {basic_user: a}}\nsources:\n  - {name: a, plugin: csv, city: jinan, url: "http://x.example/"}\n' >"$WORK/pbad.yaml"
check_status "proxy_auth without a password is a configuration error" 2 "$DUIKOU" check-config "$WORK/pbad.yaml"
check_grep "... at its place" 'pbad.yaml:2:.*basic_user needs basic_password_env or basic_password_file (at /http/proxy_auth)' "$WORK/last.err"

# max_per_host: 1 makes two slow sources of one host run one after the other.
cat >"$WORK/l.yaml" <<YAML
repository: limited.git
state: lstate
http: { max_per_host: 1 }
sources:
  - { name: s1, plugin: json-api, city: jinan, url: "$SIM_URL/jinan/tasks.json?misbehave=slow&delay_ms=1000&n=1" }
  - { name: s2, plugin: json-api, city: linyi, url: "$SIM_URL/jinan/tasks.json?misbehave=slow&delay_ms=1000&n=2" }
YAML
t0=$(date +%s%N)
check_status "two slow sources, one connection per host" 0 "$DUIKOU" sync -c "$WORK/l.yaml"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "they ran one after the other ($ms ms >= 2000)" test "$ms" -ge 2000
finish
