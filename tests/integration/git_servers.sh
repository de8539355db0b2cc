# Real git servers on loopback for the tests (sourced after lib.sh, bash).
#
#   gs_bare NAME              a bare repository NAME.git under the served root; prints its path
#   gs_file_url NAME          file:// URL of it
#   gs_start_daemon           git daemon (receive-pack on): sets GS_GIT_URL (git://127.0.0.1:PORT)
#   gs_start_http USER PASS [USER PASS]...
#                             lighttpd + git-http-backend (CGI), basic auth for everything, pushes
#                             allowed to the authenticated user: sets GS_HTTP_URL (http://127.0.0.1:PORT/git),
#                             GS_HTTP_LOG (access log: one line a request, with the status)
#   gs_start_https USER PASS...
#                             the same over TLS, self-signed (see below; may return 1)
#   gs_start_blackhole        a port that accepts connections and never answers: sets GS_HOLE_PORT
#   gs_start_redirect BASE    an HTTP server answering every request with 302 to BASE + the
#                             path: sets GS_REDIRECT_URL (http://127.0.0.1:PORT)
#   gs_stop NAME              stop one server (daemon, http, blackhole); its port is then closed
#   gs_refuse_ref REPO REF MESSAGE [pre-receive|update]
#                             a hook in REPO refusing REF with MESSAGE (pre-receive: the whole
#                             push fails; update: only that ref)
#   gs_start_sshd             sshd on loopback with generated keys (see below; may return 1)
#   gs_free_port              a port free on 127.0.0.1 now
# Everything lives below $WORK/servers; every server is stopped at exit.
GS_DIR="$WORK/servers"
GS_ROOT="$GS_DIR/root"
mkdir -p "$GS_ROOT"
declare -A GS_PIDS=()
GIT_DAEMON=${GIT_DAEMON:-/usr/lib/git-core/git-daemon}
GIT_HTTP_BACKEND=${GIT_HTTP_BACKEND:-/usr/lib/git-core/git-http-backend}
LIGHTTPD=${LIGHTTPD:-$(command -v lighttpd || echo /usr/sbin/lighttpd)}

gs_stop() {
  local pid=${GS_PIDS[$1]:-}
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  unset "GS_PIDS[$1]"
}

gs_stop_all() {
  local k
  for k in "${!GS_PIDS[@]}"; do gs_stop "$k"; done
}
trap 'gs_stop_all; cleanup' EXIT

gs_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# gs_wait_port PORT NAME: until something listens there (5 s)
gs_wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  not_ok "$2 starts on port $1" "$(tail -n 5 "$GS_DIR/$2.err" 2>/dev/null)"
  finish
}

gs_bare() {
  local p="$GS_ROOT/$1.git"
  git init -q --bare "$p"
  git --git-dir "$p" config http.receivepack true
  echo "$p"
}

gs_file_url() { echo "file://$GS_ROOT/$1.git"; }

gs_start_daemon() {
  local port
  port=$(gs_free_port)
  "$GIT_DAEMON" --listen=127.0.0.1 --port="$port" --base-path="$GS_ROOT" --export-all \
    --enable=receive-pack --reuseaddr --informative-errors "$GS_ROOT" \
    >"$GS_DIR/daemon.out" 2>"$GS_DIR/daemon.err" &
  GS_PIDS[daemon]=$!
  gs_wait_port "$port" daemon
  GS_GIT_URL="git://127.0.0.1:$port"
}

gs_start_http() { gs__lighttpd http "$@"; }

# gs_start_https USER PASS...: the same over TLS with a self-signed
# certificate for localhost: sets GS_HTTPS_URL (https://localhost:PORT/git),
# GS_HTTPS_CA (the certificate, to trust) and GS_HTTPS_LOG. Returns 1 when lighttpd
# has no mod_openssl (Debian: lighttpd-mod-openssl).
gs_start_https() {
  [ -e /usr/lib/lighttpd/mod_openssl.so ] || return 1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$GS_DIR/https.key" -out "$GS_DIR/https.crt" 2>/dev/null || return 1
  gs__lighttpd https "$@"
  GS_HTTPS_CA="$GS_DIR/https.crt"
}

# gs__lighttpd http|https USER PASS...
gs__lighttpd() {
  local kind=$1 port conf="$GS_DIR/$1.conf" tls=""
  shift
  port=$(gs_free_port)
  mkdir -p "$GS_DIR/www"
  : >"$GS_DIR/$kind.users"
  while [ $# -ge 2 ]; do printf '%s:%s\n' "$1" "$2" >>"$GS_DIR/$kind.users"; shift 2; done
  : >"$GS_DIR/$kind.access"
  if [ "$kind" = https ]; then
    tls="server.modules += (\"mod_openssl\")
ssl.engine = \"enable\"
ssl.pemfile = \"$GS_DIR/https.crt\"
ssl.privkey = \"$GS_DIR/https.key\""
  fi
  cat >"$conf" <<EOF
server.modules = ("mod_access", "mod_alias", "mod_auth", "mod_authn_file", "mod_setenv", "mod_cgi", "mod_accesslog")
$tls
server.bind = "127.0.0.1"
server.port = $port
server.document-root = "$GS_DIR/www"
server.errorlog = "$GS_DIR/$kind.err"
accesslog.filename = "$GS_DIR/$kind.access"
accesslog.format = "%s %r"
server.max-request-size = 0
alias.url = ("/git" => "$GIT_HTTP_BACKEND")
auth.backend = "plain"
auth.backend.plain.userfile = "$GS_DIR/$kind.users"
\$HTTP["url"] =~ "^/git" {
  cgi.assign = ("" => "")
  setenv.add-environment = ("GIT_PROJECT_ROOT" => "$GS_ROOT", "GIT_HTTP_EXPORT_ALL" => "")
  auth.require = ("" => ("method" => "basic", "realm" => "duikou", "require" => "valid-user"))
}
EOF
  "$LIGHTTPD" -D -f "$conf" >"$GS_DIR/$kind.out" 2>>"$GS_DIR/$kind.err" &
  GS_PIDS[$kind]=$!
  gs_wait_port "$port" "$kind"
  if [ "$kind" = https ]; then
    GS_HTTPS_URL="https://localhost:$port/git"
    GS_HTTPS_LOG="$GS_DIR/https.access"
  else
    GS_HTTP_URL="http://127.0.0.1:$port/git"
    GS_HTTP_LOG="$GS_DIR/http.access"
  fi
}

gs_start_blackhole() {
  GS_HOLE_PORT=$(gs_free_port)
  python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
held=[]
while True: held.append(s.accept()[0])' "$GS_HOLE_PORT" >"$GS_DIR/blackhole.err" 2>&1 &
  GS_PIDS[blackhole]=$!
  gs_wait_port "$GS_HOLE_PORT" blackhole
}

gs_start_redirect() {
  local port
  port=$(gs_free_port)
  python3 -c 'import http.server,sys
base=sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def go(self):
        self.send_response(302); self.send_header("Location", base + self.path)
        self.send_header("Content-Length", "0"); self.end_headers()
    do_GET = do_POST = go
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$port" "$1" \
    >"$GS_DIR/redirect.out" 2>"$GS_DIR/redirect.err" &
  GS_PIDS[redirect]=$!
  gs_wait_port "$port" redirect
  GS_REDIRECT_URL="http://127.0.0.1:$port"
}

gs_refuse_ref() {
  local repo=$1 ref=$2 msg=$3 kind=${4:-pre-receive} hook
  hook="$repo/hooks/$kind"
  if [ "$kind" = update ]; then
    cat >"$hook" <<EOF
#!/bin/sh
if [ "\$1" = '$ref' ]; then echo '$msg' >&2; exit 1; fi
exit 0
EOF
  else
    cat >"$hook" <<EOF
#!/bin/sh
while read old new ref; do
  if [ "\$ref" = '$ref' ]; then echo '$msg' >&2; exit 1; fi
done
exit 0
EOF
  fi
  chmod +x "$hook"
}

# gs_start_sshd: sshd on loopback as the user running the tests, with a host
# key and a client key of its own: sets GS_SSH_URL (ssh://USER@127.0.0.1:PORT,
# then the repository's absolute path), GS_SSH_KEY / GS_SSH_PUB (the client's
# key files), GS_SSH_KNOWN_HOSTS (a known_hosts line for the server) and
# GS_SSH_HOSTKEY_PUB. Returns 1 (nothing started) when there is no sshd or it
# does not start; a root sshd needs /run/sshd (made when missing).
gs_start_sshd() {
  local sshd=${SSHD:-$(command -v sshd || echo /usr/sbin/sshd)} d="$GS_DIR/ssh" port
  [ -x "$sshd" ] && command -v ssh-keygen >/dev/null || return 1
  mkdir -p "$d" && chmod 700 "$d"
  ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" || return 1
  ssh-keygen -q -t ed25519 -N '' -f "$d/client_key" || return 1
  cp "$d/client_key.pub" "$d/authorized_keys"
  chmod 600 "$d/authorized_keys"
  if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then mkdir -p /run/sshd && chmod 755 /run/sshd; fi
  port=$(gs_free_port)
  cat >"$d/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $port
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers $(id -un)
LogLevel VERBOSE
CONF
  "$sshd" -D -e -f "$d/sshd_config" >"$GS_DIR/sshd.out" 2>"$GS_DIR/sshd.err" &
  GS_PIDS[sshd]=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    if ! kill -0 "${GS_PIDS[sshd]}" 2>/dev/null; then unset "GS_PIDS[sshd]"; return 1; fi
    sleep 0.05
  done
  GS_SSH_URL="ssh://$(id -un)@127.0.0.1:$port"
  GS_SSH_KEY="$d/client_key"
  GS_SSH_PUB="$d/client_key.pub"
  GS_SSH_HOSTKEY_PUB="$d/host_key.pub"
  GS_SSH_KNOWN_HOSTS="[127.0.0.1]:$port $(cut -d' ' -f1,2 "$d/host_key.pub")"
}
