#!/usr/bin/env bash
# store_remote (push, fetch, ls-remote) against real servers on loopback:
# file://, git daemon and smart HTTP (lighttpd + git-http-backend, basic auth).
source "$TEST_LIB"
source "$GIT_SERVERS"

T=$REMOTE_TOOL
PW=s3cret-Pw-71
TOKEN=tok-9f3e1c
A="$WORK/jinan.git"
B="$WORK/linyi.git"
MSGS="$WORK/messages" # every stderr of the driver, searched for secrets at the end
: >"$MSGS"
AUTH=(--user alice --password "$PW")

gs_start_daemon
gs_start_http alice "$PW" duikou "$TOKEN"
TRANSPORTS="file git http"
mkdir -p "$WORK/home/.ssh"
if gs_start_sshd; then
  TRANSPORTS+=" ssh"
  echo "$GS_SSH_KNOWN_HOSTS" >"$WORK/home/.ssh/known_hosts"
  SSH_AUTH=(--ssh-key "$GS_SSH_KEY" --ssh-pub "$GS_SSH_PUB")
else
  SSH_AUTH=()
  echo "ok - ssh:// # SKIP no sshd that starts here: $(tail -n 1 "$GS_DIR/sshd.err" 2>/dev/null)"
fi

# run ARGS...: the driver, stdout in $WORK/out, stderr in $WORK/err (and MSGS); RC its status
# (HOME: the known_hosts of the ssh server). Over ssh:// leaks are not
# looked for: libgit2 1.5.1's ssh transport leaks on every connection it
# makes (transports/ssh.c: the known_hosts list is freed on failure only,
# load_known_hosts clears its two strings instead of freeing them)
run() {
  local asan=${ASAN_OPTIONS:-}
  case $3 in ssh://*) asan="$asan:detect_leaks=0" ;; esac
  HOME="$WORK/home" ASAN_OPTIONS="$asan" "$T" "$@" >"$WORK/out" 2>"$WORK/err"
  RC=$?
  cat "$WORK/err" >>"$MSGS"
  sed -n 's/^refused /# refused /p' "$WORK/out"
}
rev() { git --git-dir "$1" rev-parse -q --verify "$2" 2>/dev/null || echo none; }
line() { grep -- " $1 " "$WORK/out" | head -n 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

"$T" commit "$A" refs/heads/main plan/a.json '{"a":1}' >/dev/null
"$T" commit "$A" refs/duikou/sources/csv tasks/t1.json '{"t":1}' >/dev/null

for tr in $TRANSPORTS; do
  repo=$(gs_bare "shared-$tr")
  case $tr in
    file) url=$(gs_file_url "shared-$tr") ;;
    git) url="$GS_GIT_URL/shared-$tr.git" ;;
    http) url="$GS_HTTP_URL/shared-$tr.git" ;;
    ssh) url="$GS_SSH_URL$repo" ;;
  esac
  opts=(--name shared)
  [ "$tr" = http ] && opts+=("${AUTH[@]}")
  [ "$tr" = ssh ] && opts+=("${SSH_AUTH[@]}")

  # a push of two refs, and the fetch of both into the other site
  run push "$A" "$url" "${opts[@]}" refs/heads/main:refs/duikou/sites/jinan/main \
    refs/duikou/sources/csv:refs/duikou/sites/jinan/sources/csv
  check_eq "$tr: push works" 0 "$RC"
  check_eq "$tr: main pushed" "ok refs/duikou/sites/jinan/main $(rev "$A" main)" "$(line refs/duikou/sites/jinan/main)"
  check_eq "$tr: remote ref at the local commit" "$(rev "$A" main)" "$(rev "$repo" refs/duikou/sites/jinan/main)"
  check_eq "$tr: second ref pushed" "$(rev "$A" refs/duikou/sources/csv)" "$(rev "$repo" refs/duikou/sites/jinan/sources/csv)"

  rm -rf "$B"
  "$T" commit "$B" refs/heads/main plan/b.json '{"b":1}' >/dev/null
  run fetch "$B" "$url" "${opts[@]}" refs/duikou/sites/ refs/duikou/incoming/shared/
  check_eq "$tr: fetch works" 0 "$RC"
  check_eq "$tr: fetch says both refs moved" 2 "$(grep -c '^moved .* 0000000000000000000000000000000000000000 ' "$WORK/out")"
  check_eq "$tr: fetched main" "$(rev "$A" main)" "$(rev "$B" refs/duikou/incoming/shared/jinan/main)"
  check_eq "$tr: fetched the source ref" "$(rev "$A" refs/duikou/sources/csv)" \
    "$(rev "$B" refs/duikou/incoming/shared/jinan/sources/csv)"
  check_eq "$tr: fetched objects are there" "$(git --git-dir "$A" show main:plan/a.json)" \
    "$(git --git-dir "$B" show refs/duikou/incoming/shared/jinan/main:plan/a.json)"
  run fetch "$B" "$url" "${opts[@]}" refs/duikou/sites/ refs/duikou/incoming/shared/
  check_eq "$tr: a second fetch moves nothing" "0:" "$RC:$(cat "$WORK/out")"

  # one ref not a fast-forward (linyi's own history onto jinan's ref), one new: refused per ref
  old=$(rev "$repo" refs/duikou/sites/jinan/main)
  run push "$B" "$url" "${opts[@]}" refs/heads/main:refs/duikou/sites/jinan/main refs/heads/main:refs/duikou/sites/linyi/main
  check_eq "$tr: non-fast-forward push: transport works" 0 "$RC"
  check_grep "$tr: non-fast-forward ref refused with the reason" "^refused refs/duikou/sites/jinan/main .*non-fast-forward" "$WORK/out"
  check_eq "$tr: the other ref of the same push went" "ok refs/duikou/sites/linyi/main $(rev "$B" main)" \
    "$(line refs/duikou/sites/linyi/main)"
  check_eq "$tr: refused ref unchanged on the remote" "$old" "$(rev "$repo" refs/duikou/sites/jinan/main)"
  check_eq "$tr: the other ref is on the remote" "$(rev "$B" main)" "$(rev "$repo" refs/duikou/sites/linyi/main)"

  # a fast-forward, and a ref already up to date
  "$T" commit "$A" refs/heads/main plan/a.json "{\"a\":\"$tr\"}" >/dev/null
  run push "$A" "$url" "${opts[@]}" refs/heads/main:refs/duikou/sites/jinan/main \
    refs/duikou/sources/csv:refs/duikou/sites/jinan/sources/csv
  check_eq "$tr: fast-forward push" "0 2" "$RC $(grep -c '^ok ' "$WORK/out")"
  check_eq "$tr: remote fast-forwarded" "$(rev "$A" main)" "$(rev "$repo" refs/duikou/sites/jinan/main)"

  # a ref gone from the remote is pruned from the staging area; the moved one says its old commit
  git --git-dir "$repo" update-ref -d refs/duikou/sites/jinan/sources/csv
  run fetch "$B" "$url" "${opts[@]}" refs/duikou/sites/ refs/duikou/incoming/shared/
  check_grep "$tr: fetch reports the pruned ref" \
    "^moved refs/duikou/incoming/shared/jinan/sources/csv [0-9a-f]* 0000000000000000000000000000000000000000" "$WORK/out"
  check_eq "$tr: pruned ref gone" none "$(rev "$B" refs/duikou/incoming/shared/jinan/sources/csv)"
  check_grep "$tr: fetch reports the moved ref with its old commit" \
    "^moved refs/duikou/incoming/shared/jinan/main $old $(rev "$A" main)" "$WORK/out"
  check_eq "$tr: linyi's own ref fetched too" "$(rev "$B" main)" "$(rev "$B" refs/duikou/incoming/shared/linyi/main)"

  check "$tr: no FETCH_HEAD written" test ! -e "$B/FETCH_HEAD"
  if [ "$tr" = file ]; then
    # the refs move under the store's refs lock, as every commit's do
    git --git-dir "$repo" update-ref refs/duikou/sites/jinan/locktest "$(rev "$repo" refs/duikou/sites/jinan/main)"
    flock "$B/duikou.refs.lock" sleep 1 &
    locker=$!
    sleep 0.2
    t0=$(now_ms)
    run fetch "$B" "$url" "${opts[@]}" refs/duikou/sites/ refs/duikou/incoming/shared/
    t1=$(now_ms)
    wait "$locker"
    check "$tr: fetch waits for the refs lock ($((t1 - t0)) ms)" test "$RC" = 0 -a $((t1 - t0)) -ge 600
    git --git-dir "$repo" update-ref -d refs/duikou/sites/jinan/locktest
    run fetch "$B" "$url" "${opts[@]}" refs/duikou/sites/ refs/duikou/incoming/shared/
  fi
  run ls "$B" "$url" "${opts[@]}" refs/duikou/sites/jinan/
  check_eq "$tr: ls-remote below a prefix" "refs/duikou/sites/jinan/main $(rev "$A" main)" "$(cat "$WORK/out")"

  if [ "$tr" != file ]; then
    # an update hook refuses one ref: that one is refused with the hook's text, the other goes
    gs_refuse_ref "$repo" refs/duikou/sites/jinan/blocked "blocked by policy 42" update
    "$T" commit "$A" refs/heads/main plan/a.json "{\"a\":\"$tr-2\"}" >/dev/null
    run push "$A" "$url" "${opts[@]}" refs/heads/main:refs/duikou/sites/jinan/blocked refs/heads/main:refs/duikou/sites/jinan/main
    check_eq "$tr: update hook: transport works" 0 "$RC"
    check_grep "$tr: update hook refusal reported with its message" \
      "^refused refs/duikou/sites/jinan/blocked .*blocked by policy 42" "$WORK/out"
    check_eq "$tr: update hook: the other ref went" "$(rev "$A" main)" "$(rev "$repo" refs/duikou/sites/jinan/main)"
    check_eq "$tr: update hook: refused ref not created" none "$(rev "$repo" refs/duikou/sites/jinan/blocked)"
    rm -f "$repo/hooks/update"
    # a pre-receive hook refusing one ref declines the whole push (git's rule): every ref says so
    gs_refuse_ref "$repo" refs/duikou/sites/jinan/main "frozen until the audit" pre-receive
    "$T" commit "$A" refs/heads/main plan/a.json "{\"a\":\"$tr-3\"}" >/dev/null
    before=$(rev "$repo" refs/duikou/sites/jinan/main)
    run push "$A" "$url" "${opts[@]}" refs/heads/main:refs/duikou/sites/jinan/main
    check_eq "$tr: pre-receive hook: transport works" 0 "$RC"
    check_grep "$tr: pre-receive refusal reported with the hook's message" \
      "^refused refs/duikou/sites/jinan/main .*frozen until the audit" "$WORK/out"
    check_eq "$tr: pre-receive: ref unchanged" "$before" "$(rev "$repo" refs/duikou/sites/jinan/main)"
    rm -f "$repo/hooks/pre-receive"
  fi

  check "$tr: git fsck --strict of the remote" git --git-dir "$repo" fsck --strict --no-progress
done
check "git fsck --strict of jinan's store" git --git-dir "$A" fsck --strict --no-progress
check "git fsck --strict of linyi's store" git --git-dir "$B" fsck --strict --no-progress
check_eq "no remote written into the config" "" "$(git --git-dir "$A" config --get-regexp '^remote\.'; git --git-dir "$B" config --get-regexp '^remote\.')"

# credentials over HTTP
url="$GS_HTTP_URL/shared-http.git"
gs_refuse_ref "$GS_ROOT/shared-http.git" refs/duikou/sites/jinan/leak "hook says $PW" update
run push "$A" "$url" --name shared "${AUTH[@]}" refs/heads/main:refs/duikou/sites/jinan/leak
check_grep "http: a secret in the remote's text is redacted from the refusal" "^refused .*hook says \[secret redacted\]" "$WORK/out"
check_no_grep "http: ... and is not in it" "$PW" "$WORK/out"
rm -f "$GS_ROOT/shared-http.git/hooks/update"
run ls "$B" "$url" --token "$TOKEN"
check_eq "http: a token is sent as the password of user duikou" 0 "$RC"
before=$(grep -c "password doesn't match" "$GS_DIR/http.err")
t0=$(now_ms)
run push "$A" "$url" --name shared --user alice --password "wrong-$PW" --tries 2 refs/heads/main:refs/duikou/sites/jinan/main
check_eq "http: wrong password -> DK_EAUTH" "2 error -21 remote refused the credentials" "$RC $(cat "$WORK/out")"
check_eq "http: the credentials were tried max_auth_tries times" 2 \
  $(($(grep -c "password doesn't match" "$GS_DIR/http.err") - before))
check_grep "http: the message names the remote" 'remote "shared" (http://127.0.0.1:[0-9]*/git/shared-http.git)' "$WORK/err"
check_grep "http: the message says the credentials were refused" "credentials were refused (2 attempts)" "$WORK/err"
run push "$A" "$url" --name shared refs/heads/main:refs/duikou/sites/jinan/main
check_eq "http: no credentials -> DK_EAUTH" 2:-21 "$RC:$(awk '{print $2}' "$WORK/out")"
check_grep "http: no credentials said" "none are configured" "$WORK/err"

if [ -n "${GS_PIDS[sshd]:-}" ]; then
  url="$GS_SSH_URL$GS_ROOT/shared-ssh.git"
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/stranger"
  run ls "$B" "$url" --name shared --ssh-key "$WORK/stranger" --ssh-pub "$WORK/stranger.pub"
  check_eq "ssh: a key the server does not know -> DK_EAUTH" 2:-21 "$RC:$(awk '{print $2}' "$WORK/out")"
  check_grep "ssh: ... with the attempts counted" "([0-9] attempts)" "$WORK/err"
  run ls "$B" "$url" --name shared --ssh-key "$WORK/no-such-key"
  check_eq "ssh: a key file that is not there -> DK_EINVAL" 2:-1 "$RC:$(awk '{print $2}' "$WORK/out")"
  check_grep "ssh: ... naming it" "cannot read the ssh key file $WORK/no-such-key" "$WORK/err"
  mv "$WORK/home/.ssh/known_hosts" "$WORK/known_hosts.off"
  run ls "$B" "$url" --name shared "${SSH_AUTH[@]}"
  check_eq "ssh: a host key not in known_hosts -> DK_EREMOTE" 2:-20 "$RC:$(awk '{print $2}' "$WORK/out")"
  check_grep "ssh: ... said, with where it is looked for" "unknown remote ssh hostkey.*known_hosts" "$WORK/err"
  mv "$WORK/known_hosts.off" "$WORK/home/.ssh/known_hosts"
fi

# redirects: libgit2 refuses one to another host; one to the same host (another
# port) it follows, and the credentials are then withheld
gs_start_redirect "http://localhost:${GS_HTTP_URL#http://127.0.0.1:}"
run push "$A" "$GS_REDIRECT_URL/shared-http.git" --name shared "${AUTH[@]}" refs/heads/main:refs/duikou/sites/jinan/main
check_eq "http: a redirect to another host -> DK_EREMOTE" 2:-20 "$RC:$(awk '{print $2}' "$WORK/out")"
check_grep "http: ... said" "cannot redirect from '127.0.0.1' to 'localhost'" "$WORK/err"
gs_stop redirect
gs_start_redirect "$GS_HTTP_URL"
run push "$A" "$GS_REDIRECT_URL/shared-http.git" --name shared "${AUTH[@]}" refs/heads/main:refs/duikou/sites/jinan/main
check_eq "http: a redirect to another port -> DK_EAUTH" 2:-21 "$RC:$(awk '{print $2}' "$WORK/out")"
check_grep "http: ... said" "the remote redirected to $GS_HTTP_URL/shared-http.git" "$WORK/err"
gs_stop redirect

# https: the certificate is checked (a self-signed one is refused), and works once trusted
if gs_start_https alice "$PW"; then
  repo=$(gs_bare shared-https)
  url="$GS_HTTPS_URL/shared-https.git"
  run push "$A" "$url" --name shared "${AUTH[@]}" refs/heads/main:refs/duikou/sites/jinan/main
  check_eq "https: an untrusted certificate -> DK_EREMOTE" 2:-20 "$RC:$(awk '{print $2}' "$WORK/out")"
  check_grep "https: ... said" "certificate" "$WORK/err"
  run ls "$B" "$url" --ca "$WORK/no-such-ca.pem"
  check_eq "https: a CA file that is not there -> DK_EINVAL" 2:-1 "$RC:$(awk '{print $2}' "$WORK/out")"
  run push "$A" "$url" --ca "$GS_HTTPS_CA" --name shared "${AUTH[@]}" refs/heads/main:refs/duikou/sites/jinan/main
  check_eq "https: push once the certificate is trusted" "0 ok" "$RC $(awk '{print $1}' "$WORK/out")"
  check_eq "https: remote ref at the local commit" "$(rev "$A" main)" "$(rev "$repo" refs/duikou/sites/jinan/main)"
  run fetch "$B" "$url" --ca "$GS_HTTPS_CA" --name shared "${AUTH[@]}" refs/duikou/sites/ refs/duikou/incoming/https/
  check_eq "https: fetched" "$(rev "$A" main)" "$(rev "$B" refs/duikou/incoming/https/jinan/main)"
  check "https: git fsck --strict of the remote" git --git-dir "$repo" fsck --strict --no-progress
  gs_stop https
else
  echo "ok - https:// # SKIP lighttpd has no mod_openssl here"
fi

# URLs refused before anything is tried
run push "$A" "$GS_ROOT/shared-file.git" refs/heads/main:refs/duikou/sites/jinan/main
check_eq "a plain path is refused" 2:-1 "$RC:$(awk '{print $2}' "$WORK/out")"
check_grep "a plain path: file:// is said" "file:///path" "$WORK/err"
run push "$A" "http://alice:$PW@127.0.0.1:1/git/x.git" refs/heads/main:refs/duikou/sites/jinan/main
check_grep "a password in the URL is refused and not shown" "alice:\*\*\*@127.0.0.1" "$WORK/err"
run fetch "$B" "file://$WORK/nowhere.git" refs/duikou/sites/ refs/duikou/incoming/shared/
check_eq "file:// without a repository -> DK_EREMOTE" 2:-20 "$RC:$(awk '{print $2}' "$WORK/out")"

# a server that accepts and never answers fails within the timeout
gs_start_blackhole
t0=$(now_ms)
run fetch "$B" "git://127.0.0.1:$GS_HOLE_PORT/x.git" --timeout 1500 refs/duikou/sites/ refs/duikou/incoming/shared/
t1=$(now_ms)
check_eq "silent git:// server -> DK_EREMOTE" 2:-20 "$RC:$(awk '{print $2}' "$WORK/out")"
check "silent git:// server: failed within the timeout ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 4000 -a $((t1 - t0)) -ge 1400
check_grep "silent git:// server: the message says so" "within 2 s" "$WORK/err"
t0=$(now_ms)
run push "$A" "http://127.0.0.1:$GS_HOLE_PORT/git/x.git" --timeout 1500 "${AUTH[@]}" refs/heads/main:refs/duikou/sites/jinan/main
t1=$(now_ms)
check_eq "silent http:// server -> DK_EREMOTE" 2:-20 "$RC:$(awk '{print $2}' "$WORK/out")"
check "silent http:// server: failed within the timeout ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 4000
if [ -n "${GS_PIDS[sshd]:-}" ]; then
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/hole_key"
  t0=$(now_ms)
  run ls "$B" "ssh://git@127.0.0.1:$GS_HOLE_PORT/x.git" --timeout 1500 --ssh-key "$WORK/hole_key"
  t1=$(now_ms)
  check_eq "silent ssh:// server -> DK_EREMOTE" 2:-20 "$RC:$(awk '{print $2}' "$WORK/out")"
  check "silent ssh:// server: failed within the timeout ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 4000 -a $((t1 - t0)) -ge 1400
  check_grep "silent ssh:// server: the message says so" "nothing moved within 2 s" "$WORK/err"
fi

# dead servers: stopped, their ports closed
dead=("$GS_GIT_URL/shared-git.git" "$GS_HTTP_URL/shared-http.git")
[ -n "${GS_PIDS[sshd]:-}" ] && dead+=("$GS_SSH_URL$GS_ROOT/shared-ssh.git")
gs_stop daemon
gs_stop http
gs_stop sshd
for u in "${dead[@]}"; do
  t0=$(now_ms)
  run push "$A" "$u" --name shared "${AUTH[@]}" "${SSH_AUTH[@]}" refs/heads/main:refs/duikou/sites/jinan/main
  t1=$(now_ms)
  check_eq "dead ${u%%:*} server -> DK_EREMOTE" 2:-20 "$RC:$(awk '{print $2}' "$WORK/out")"
  check "dead ${u%%:*} server: quickly ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 3000
  check_grep "dead ${u%%:*} server: the message names the remote and says why" \
    "remote \"shared\" ($u): cannot connect: .*Connection refused" "$WORK/err"
done

# no secret anywhere: messages, stores, the served repositories
check_no_grep "the password is in no message" "$PW" "$MSGS"
check_no_grep "the token is in no message" "$TOKEN" "$MSGS"
check_eq "the password and token are in no repository file" "" \
  "$(grep -rlF -e "$PW" -e "$TOKEN" "$A" "$B" "$GS_ROOT" 2>/dev/null)"
if [ -n "${KEEP_MSGS:-}" ]; then cp "$MSGS" "$KEEP_MSGS"; fi
finish
