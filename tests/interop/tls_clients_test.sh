#!/usr/bin/env bash
# lwmaild over TLS against real clients: openssl s_client, curl, mbsync
# (isync), offlineimap3 and fetchmail, each over IMAPS (implicit TLS) and
# STARTTLS, with the certificate really verified: the script makes a test
# CA with openssl, lwmaild serves a certificate the CA signed for
# "localhost" (--cert/--key), and every client trusts that CA only and
# connects to localhost (curl: --resolve localhost:PORT:127.0.0.1). Results
# are checked on the server (interop_ctl.py over IMAPS) and in the clients'
# Maildirs and output.
#
#   tests/interop/tls_clients_test.sh BUILD/lwmaild [section...]
#
# Sections: s_client curl mbsync offlineimap fetchmail (default: all).
# Each section starts its own lwmaild on 127.0.0.1 port 0 (IMAP with
# STARTTLS and IMAPS; no --allow-plaintext-auth) in its own temporary
# directory and stops it with SIGTERM: the daemon must exit 0 with no
# sanitizer report. Everything is removed on exit, failure or not; every
# wait is bounded. A client that is not installed fails its section
# (scripts/deps.sh installs them all). The reporting helpers, the daemon's
# start and stop and the loop over the sections are in lib.sh.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=${PYTHON3:-python3}
ctl=("$py" "$here/interop_ctl.py")

me=tls_clients_test
suite=interop_tls_clients
all_sections=(s_client curl mbsync offlineimap fetchmail)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
setup lwm-tlsclients "$@"

# ------------------------------------------------------------ the CA

pki=$top/pki
ca=$pki/ca.crt

# A test CA (ECDSA P-256) and a server certificate it signed for
# localhost and 127.0.0.1; lwmaild gets the chain (server, CA).
make_pki() {
    mkdir -p "$pki"
    (
        set -e
        cd "$pki"
        openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout ca.key -out ca.crt -days 30 -subj "/CN=lwmail test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout server.key -out server.csr -subj "/CN=localhost"
        cat >server.ext <<EOF
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
EOF
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
            -CAcreateserial -out server.crt -days 30 -extfile server.ext
        cat server.crt ca.crt >chain.pem
        # a second CA that signed nothing here: trusting it must fail
        openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout other-ca.key -out other-ca.crt -days 30 \
            -subj "/CN=some other CA" -addext "basicConstraints=critical,CA:TRUE"
    ) >"$top/pki.log" 2>&1
}

# ------------------------------------------------------------ the daemon

# ports_ready DIR: the daemon named both its ports; sets port and tport
ports_ready() {
    local out
    out=$(cat "$1/lwmaild.out" 2>/dev/null)
    port=$(sed -n 's/^imap 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' <<<"$out")
    tport=$(sed -n 's/^imaps 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' <<<"$out")
    [ -n "$port" ] && [ -n "$tport" ]
}

# start_daemon DIR: sets port (IMAP, STARTTLS) and tport (IMAPS)
start_daemon() {
    local dir=$1
    port= tport=
    launch_daemon "$dir" ports_ready --imap 127.0.0.1:0 --imaps 127.0.0.1:0 \
        --flash "$dir/flash.img" --flash-size 8M --block-size 8K \
        --cert "$pki/chain.pem" --key "$pki/server.key" --hostname localhost \
        --user alice:secret1 --user bob:secret2 || return 1
    case " $port $tport " in
        *" 0 "*|*" 143 "*|*" 993 "*) fail "daemon chose port $port/$tport"; return 1 ;;
    esac
    return 0
}

# tls_sessions DIR: how many TLS sessions the daemon completed, by suite
tls_suites() { sed -n 's/.*session [0-9]*: TLS TLSv1\.2 \(TLS-.*\)$/\1/p' "$1/lwmaild.err" | sort | uniq -c; }
tls_count() { grep -c 'session [0-9]*: TLS TLSv1\.2 TLS-ECDHE-' "$1/lwmaild.err"; }

# server-side checks go over IMAPS, verified with the test CA
srv() { LWM_CTL_IMAPS=1 LWM_CTL_CAFILE=$ca "${ctl[@]}" "$tport" "$@"; }

# literal_is OUTPUT FILE: OUTPUT holds a literal {N} whose bytes are FILE's
literal_is() {
    "$py" - "$1" "$2" <<'EOF'
import re, sys
out = open(sys.argv[1], "rb").read()
want = open(sys.argv[2], "rb").read()
m = re.search(rb"\{(\d+)\}\r\n", out)
sys.exit(0 if m and int(m.group(1)) == len(want) and
         out[m.end():m.end() + len(want)] == want else 1)
EOF
}

# ------------------------------------------------------------ s_client

section_s_client() {
    local d=$1 u mode
    need openssl || return
    "${ctl[@]}" msg "s_client one" "fetched through openssl s_client" >"$d/m1.eml"
    u=$(srv append INBOX "$d/m1.eml") || { fail "seed"; return; }
    for mode in imaps starttls; do
        local conn=(-connect "127.0.0.1:$tport")
        [ $mode = starttls ] && conn=(-connect "127.0.0.1:$port" -starttls imap)
        # the handshake, verified against the test CA for localhost
        timeout 30 openssl s_client "${conn[@]}" -servername localhost \
            -CAfile "$ca" -verify_hostname localhost -verify_return_error \
            -brief </dev/null >"$d/$mode.brief" 2>&1
        check "$mode: certificate verified for localhost" \
            grep -q '^Verification: OK' "$d/$mode.brief"
        check "$mode: TLS 1.2" grep -q '^Protocol version: TLSv1.2' "$d/$mode.brief"
        check "$mode: ECDHE-ECDSA AEAD suite" grep -Eq \
            '^Ciphersuite: ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$' \
            "$d/$mode.brief"
        # LOGIN, SELECT, FETCH (pipelined, as s_client sends its input)
        printf 'a LOGIN alice secret1\r\nb SELECT INBOX\r\nc UID FETCH %s BODY.PEEK[]\r\nd LOGOUT\r\n' "$u" |
            timeout 60 openssl s_client "${conn[@]}" -servername localhost \
                -CAfile "$ca" -verify_hostname localhost -verify_return_error \
                -quiet >"$d/$mode.out" 2>"$d/$mode.err"
        check "$mode: LOGIN OK" grep -q '^a OK' "$d/$mode.out"
        check "$mode: SELECT OK" grep -q '^b OK \[READ-WRITE\]' "$d/$mode.out"
        check "$mode: FETCH OK" grep -q '^c OK' "$d/$mode.out"
        check "$mode: LOGOUT OK" grep -q '^d OK' "$d/$mode.out"
        check "$mode: FETCH byte-exact" literal_is "$d/$mode.out" "$d/m1.eml"
        # a client that trusts another CA does not get through
        check_not "$mode: refused when the client trusts another CA" \
            timeout 30 openssl s_client "${conn[@]}" -servername localhost \
                -CAfile "$pki/other-ca.crt" -verify_return_error -brief \
                </dev/null >"$d/$mode.bad" 2>&1
        check_not "$mode: refused for another host name" \
            timeout 30 openssl s_client "${conn[@]}" -servername localhost \
                -CAfile "$ca" -verify_hostname mail.example -verify_return_error \
                -brief </dev/null >"$d/$mode.badname" 2>&1
    done
    # -starttls imap saw STARTTLS advertised; before TLS LOGIN is refused
    printf 'a LOGIN alice secret1\r\nb LOGOUT\r\n' |
        timeout 30 "$py" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
f = s.makefile("rb")
sys.stdout.buffer.write(f.readline())
s.sendall(sys.stdin.buffer.read())
sys.stdout.buffer.write(f.read())' "$port" >"$d/plain.out" 2>&1
    check "plain port greeting: STARTTLS and LOGINDISABLED" \
        grep -q '^\* OK \[CAPABILITY .*STARTTLS LOGINDISABLED\]' "$d/plain.out"
    check "plain port: LOGIN refused, PRIVACYREQUIRED" \
        grep -q '^a NO \[PRIVACYREQUIRED\]' "$d/plain.out"
}

# ------------------------------------------------------------ curl

section_curl() {
    local d=$1 u1 u2 out n
    need curl || return
    local c=(curl -s -S --max-time 30 --user alice:secret1 --cacert "$ca")
    local imaps="imaps://localhost:$tport" imap="imap://localhost:$port"
    local res=(--resolve "localhost:$tport:127.0.0.1" --resolve "localhost:$port:127.0.0.1")
    "${ctl[@]}" msg "curl tls one" "first body over TLS" >"$d/m1.eml"
    "${ctl[@]}" msg "curl tls two" "second body over TLS" >"$d/m2.eml"
    "${ctl[@]}" msg "curl tls three" "uploaded by curl over IMAPS" >"$d/m3.eml"
    "${ctl[@]}" msg "curl tls four" "uploaded by curl after STARTTLS" >"$d/m4.eml"
    u1=$(srv append INBOX "$d/m1.eml") || { fail "seed"; return; }
    u2=$(srv append INBOX "$d/m2.eml") || { fail "seed"; return; }

    out=$("${c[@]}" "${res[@]}" "$imaps/") || fail "curl imaps LIST exit $?"
    check "imaps: LIST shows INBOX" grep -q '^\* LIST ([^)]*) "/" INBOX' <<<"$out"
    "${c[@]}" "${res[@]}" "$imaps/INBOX;UID=$u1" -o "$d/got1.eml" ||
        fail "curl imaps FETCH exit $?"
    check "imaps: FETCH ;UID=$u1 byte-exact" cmp -s "$d/got1.eml" "$d/m1.eml"
    n=$(srv count INBOX)
    "${c[@]}" "${res[@]}" -T "$d/m3.eml" "$imaps/INBOX" || fail "curl imaps upload exit $?"
    expect_eq "imaps: upload adds a message" "$(srv count INBOX)" "$((n + 1))"
    srv body INBOX "curl tls three" >"$d/got3.eml"
    check "imaps: uploaded message byte-exact on the server" cmp -s "$d/got3.eml" "$d/m3.eml"

    # STARTTLS on the plain port, required
    "${c[@]}" "${res[@]}" --ssl-reqd "$imap/INBOX;UID=$u2" -o "$d/got2.eml" ||
        fail "curl --ssl-reqd FETCH exit $?"
    check "STARTTLS: FETCH ;UID=$u2 byte-exact" cmp -s "$d/got2.eml" "$d/m2.eml"
    "${c[@]}" "${res[@]}" --ssl-reqd -T "$d/m4.eml" "$imap/INBOX" ||
        fail "curl --ssl-reqd upload exit $?"
    srv body INBOX "curl tls four" >"$d/got4.eml"
    check "STARTTLS: uploaded message byte-exact on the server" cmp -s "$d/got4.eml" "$d/m4.eml"
    out=$("${c[@]}" "${res[@]}" --ssl-reqd "$imap/INBOX" -X 'EXAMINE INBOX') ||
        fail "curl --ssl-reqd EXAMINE exit $?"
    check "STARTTLS: EXAMINE reports 4 EXISTS" grep -q '^\* 4 EXISTS' <<<"$out"

    # without TLS the login is refused; an unknown CA is refused
    curl -s --max-time 30 --user alice:secret1 "${res[@]}" "$imap/INBOX" >/dev/null 2>&1
    out=$?
    check "plain imap:// without TLS: no login (curl exit $out)" test "$out" -ne 0
    "${c[@]}" "${res[@]}" --cacert "$pki/other-ca.crt" "$imaps/" >/dev/null 2>&1
    expect_eq "imaps with another CA: exit 60 (certificate not trusted)" "$?" 60
    "${c[@]}" --resolve "other.example:$tport:127.0.0.1" \
        "imaps://other.example:$tport/" >/dev/null 2>&1
    expect_eq "imaps under another name: exit 60 (name does not match)" "$?" 60
    curl -s --max-time 30 --user alice:wrong --cacert "$ca" "${res[@]}" "$imaps/" \
        >/dev/null 2>&1
    expect_eq "imaps, wrong password: exit 67 (login denied)" "$?" 67
}

# ------------------------------------------------------------ mbsync

# mbsync_round DIR NAME SSLTYPE PORT MAILBOX: sync MAILBOX both ways
mbsync_round() {
    local d=$1 name=$2 type=$3 p=$4 box=$5 s
    local md=$d/$name
    mkdir -p "$md"
    for s in far-a far-b far-c; do
        "${ctl[@]}" msg "$name $s" "body of $name $s" >"$d/$name-$s.eml"
        srv append "$box" "$d/$name-$s.eml" >/dev/null || { fail "seed"; return; }
    done
    cat >"$d/$name.rc" <<EOF
IMAPAccount $name
Host localhost
Port $p
User alice
Pass secret1
SSLType $type
SSLVersions TLSv1.2
SystemCertificates no
CertificateFile $ca
Timeout 20

IMAPStore $name-far
Account $name

MaildirStore $name-near
Path $md/
Inbox $md/INBOX
SubFolders Verbatim

Channel $name
Far :$name-far:
Near :$name-near:
Patterns $box
Create Both
Expunge Both
SyncState *
EOF
    local sync=(env HOME="$d" timeout 120 mbsync -q -c "$d/$name.rc" -a)
    local n0
    n0=$(tls_count "$d")
    check "$name: first mbsync run" "${sync[@]}" || return
    check "$name: mbsync used TLS" test "$(tls_count "$d")" -gt "$n0"
    expect_eq "$name: Maildir $box after the first sync" \
        "$("${ctl[@]}" md-subjects "$md/$box" | sort | tr '\n' ' ')" \
        "$name far-a $name far-b $name far-c "
    "${ctl[@]}" md-body "$md/$box" "$name far-a" >"$d/$name-near-a.eml"
    check "$name: far-a arrived intact" "${ctl[@]}" same-text \
        "$d/$name-near-a.eml" "$d/$name-far-a.eml" --ignore-header X-TUID
    # changes on both sides
    "${ctl[@]}" md-setflag "$md/$box" "$name far-a" FS || fail "Maildir flag"
    "${ctl[@]}" md-delete "$md/$box" "$name far-b" || fail "Maildir delete"
    "${ctl[@]}" msg "$name near-d" "body of $name near-d" >"$d/$name-near-d.eml"
    mkdir -p "$md/$box/new"
    cp "$d/$name-near-d.eml" "$md/$box/new/1700000000.1.$name"
    srv store "$box" "$name far-c" +FLAGS '(\Answered)' || fail "STORE"
    check "$name: second mbsync run" "${sync[@]}"
    expect_eq "$name: server $box after the second sync" \
        "$(srv subjects "$box" | sort | tr '\n' ' ')" \
        "$name far-a $name far-c $name near-d "
    expect_eq "$name: Maildir flags arrived on the server" \
        "$(srv flags "$box" "$name far-a")" '\Flagged \Seen'
    check "$name: server flag arrived in the Maildir (R)" \
        grep -q R <<<"$("${ctl[@]}" md-flags "$md/$box" "$name far-c")"
    srv body "$box" "$name near-d" >"$d/$name-far-d.eml"
    check "$name: near-d arrived intact on the server" "${ctl[@]}" same-text \
        "$d/$name-far-d.eml" "$d/$name-near-d.eml" --ignore-header X-TUID
}

section_mbsync() {
    local d=$1
    need mbsync || return
    mbsync_round "$d" imaps IMAPS "$tport" INBOX
    mbsync_round "$d" starttls STARTTLS "$port" Archive
    # an untrusted certificate stops it
    sed "s|^CertificateFile .*|CertificateFile $pki/other-ca.crt|" \
        "$d/imaps.rc" >"$d/bad.rc"
    check_not "mbsync refuses a certificate from an unknown CA" \
        env HOME="$d" timeout 60 mbsync -q -c "$d/bad.rc" -a
}

# ------------------------------------------------------------ offlineimap

# offlineimap_round DIR NAME SSL STARTTLS PORT
offlineimap_round() {
    local d=$1 name=$2 ssl=$3 starttls=$4 p=$5 s n files
    for s in oi-1 oi-2 oi-3; do
        "${ctl[@]}" msg "$name $s" "offlineimap body $name $s" >"$d/$name-$s.eml"
        srv append Archive "$d/$name-$s.eml" >/dev/null || { fail "seed"; return; }
    done
    srv store Archive "$name oi-2" +FLAGS '(\Flagged \Seen)' || fail "STORE"
    cat >"$d/$name.rc" <<EOF
[general]
accounts = lw
metadata = $d/$name-meta
ui = quiet

[Account lw]
localrepository = lw-local
remoterepository = lw-remote

[Repository lw-local]
type = Maildir
localfolders = $d/$name

[Repository lw-remote]
type = IMAP
remotehost = localhost
remoteport = $p
remoteuser = alice
remotepass = secret1
ssl = $ssl
starttls = $starttls
sslcacertfile = $ca
maxconnections = 1
folderfilter = lambda f: f in ['Archive']
EOF
    local n0
    n0=$(tls_count "$d")
    check "$name: offlineimap sync" \
        env HOME="$d" timeout 120 offlineimap -c "$d/$name.rc" -o -u quiet
    check "$name: offlineimap used TLS" test "$(tls_count "$d")" -gt "$n0"
    n=$(srv count Archive)
    files=$(find "$d/$name/Archive/cur" "$d/$name/Archive/new" -type f 2>/dev/null | wc -l)
    expect_eq "$name: Maildir message count equals the server's" "$files" "$n"
    for s in oi-1 oi-3; do
        "${ctl[@]}" md-body "$d/$name/Archive" "$name $s" >"$d/$name-got.eml" 2>/dev/null
        check "$name: $s body equal to the server's" \
            "${ctl[@]}" same-text "$d/$name-got.eml" "$d/$name-$s.eml"
    done
    expect_eq "$name: flags of oi-2 in the Maildir" \
        "$("${ctl[@]}" md-flags "$d/$name/Archive" "$name oi-2")" FS
    # and back: a message written into the Maildir goes up
    "${ctl[@]}" msg "$name up" "from the Maildir" >"$d/$name/Archive/new/1700000002.3.$name"
    check "$name: second offlineimap sync" \
        env HOME="$d" timeout 120 offlineimap -c "$d/$name.rc" -o -u quiet
    check "$name: Maildir message arrived on the server" \
        test "$(srv flags Archive "$name up")" != ABSENT
}

section_offlineimap() {
    local d=$1
    need offlineimap || return
    offlineimap_round "$d" oi-imaps yes no "$tport"
    offlineimap_round "$d" oi-starttls no yes "$port"
}

# ------------------------------------------------------------ fetchmail

# fetchmail_round DIR NAME PORT ARGS...: fetch three new messages
fetchmail_round() {
    local d=$1 name=$2 p=$3 s rc
    shift 3
    fetchmail_setup "$d" "$name" localhost "$name " || return
    local fm=(env FETCHMAILHOME="$d/$name-home" HOME="$d" timeout 120
              fetchmail -f "$d/$name.rc" --protocol IMAP --port "$p"
              --keep --mda "$d/$name.sh" --nosyslog
              --idfile "$d/$name-home/ids" "$@" localhost)
    local n0
    n0=$(tls_count "$d")
    "${fm[@]}" >"$d/$name.log" 2>&1
    rc=$?
    expect_eq "$name: fetchmail exit status (0: mail delivered)" "$rc" 0 ||
        sed 's/^/      /' "$d/$name.log"
    check "$name: fetchmail used TLS" test "$(tls_count "$d")" -gt "$n0"
    expect_eq "$name: messages delivered" "$(find "$d/$name-out" -type f | wc -l)" 3
    for s in fm-1 fm-2 fm-3; do
        check "$name: $s delivered with its body" \
            grep -lq "^fetchmail body line $name $s" "$d/$name-out"/msg.*
        check "$name: $s is \\Seen on the server" \
            grep -q '\\Seen' <<<"$(srv flags INBOX "$name $s")"
    done
}

section_fetchmail() {
    local d=$1 rc
    need fetchmail || return
    fetchmail_round "$d" fm-imaps "$tport" --ssl --sslcertck \
        --sslcertfile "$ca"
    # STARTTLS: --sslproto without --ssl, the certificate checked
    fetchmail_round "$d" fm-starttls "$port" --sslproto 'TLS1.2+' \
        --sslcertck --sslcertfile "$ca"
    # an unknown CA: no mail
    mkdir -p "$d/fm-bad-home"
    env FETCHMAILHOME="$d/fm-bad-home" HOME="$d" timeout 120 \
        fetchmail -f "$d/fm-imaps.rc" --protocol IMAP --port "$tport" --keep \
        --mda "$d/fm-imaps.sh" --nosyslog --ssl --sslcertck \
        --sslcertfile "$pki/other-ca.crt" localhost >"$d/fm-bad.log" 2>&1
    rc=$?
    check "fetchmail refuses a certificate from an unknown CA (exit $rc)" \
        test "$rc" -ne 0 -a "$rc" -ne 1
    check "... and says why" grep -qi 'certificate' "$d/fm-bad.log"
}

# ------------------------------------------------------------ main

need openssl || { echo "tls_clients_test: openssl is needed"; exit 1; }
if ! make_pki; then
    echo "tls_clients_test: could not make the test CA:"
    cat "$top/pki.log"
    exit 1
fi

# after a section that passed: the TLS sessions it made, by suite
section_done() {
    if [ "$section_ok" = 1 ]; then
        note "TLS sessions by suite: $(tls_suites "$1" | tr -s ' \n' ' ')"
    fi
}

run_sections
