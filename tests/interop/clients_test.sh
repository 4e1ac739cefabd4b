#!/usr/bin/env bash
# lwmaild against real IMAP clients: curl, mbsync (isync), offlineimap3,
# fetchmail and neomutt (driven in tmux). Results are checked on the server
# through imaplib (interop_ctl.py) and on the clients' Maildirs.
#
#   tests/interop/clients_test.sh BUILD/lwmaild [section...]
#
# Sections: curl mbsync offlineimap fetchmail neomutt (default: all).
# Each section starts its own lwmaild on 127.0.0.1 port 0 (the kernel picks
# a free port, read back from the daemon's "imap ADDR:PORT" line) in its
# own temporary directory, and stops it with SIGTERM: the daemon must exit
# 0 with no sanitizer report. Everything is removed on exit, failure or not.
# Every wait is bounded. A client that is not installed fails its section
# (scripts/deps.sh installs them all). The reporting helpers, the daemon's
# start and stop and the loop over the sections are in lib.sh.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ctl=("${PYTHON3:-python3}" "$here/interop_ctl.py")

me=clients_test
suite=interop_clients
all_sections=(curl mbsync offlineimap fetchmail neomutt)
tmux_sock=
cleanup_extra() {
    if [ -n "$tmux_sock" ]; then
        tmux -S "$tmux_sock" kill-server >/dev/null 2>&1 || true
    fi
}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
setup lwm-clients "$@"

# ------------------------------------------------------------ the daemon

# imap_ready DIR: the daemon's first line names its IMAP port; sets port
imap_ready() {
    local line
    line=$(head -n 1 "$1/lwmaild.out" 2>/dev/null)
    case $line in
        "imap 127.0.0.1:"[0-9]*) port=${line##*:}; return 0 ;;
    esac
    return 1
}

# start_daemon DIR: sets port; fails the section if it does not come up
start_daemon() {
    local dir=$1
    launch_daemon "$dir" imap_ready --imap 127.0.0.1:0 --flash "$dir/flash.img" \
        --flash-size 8M --block-size 8K \
        --user alice:secret1 --user bob:secret2 --allow-plaintext-auth || return 1
    case $port in 0|25|143|587|993) fail "daemon chose port $port"; return 1 ;; esac
    return 0
}

# wait_until SECONDS COMMAND...: poll (10 per second) until it succeeds
wait_until() {
    local limit=$(( $1 * 10 )) i
    shift
    for ((i = 0; i < limit; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

srv() { "${ctl[@]}" "$port" "$@"; }

# ------------------------------------------------------------ curl

section_curl() {
    local d=$1 u1 u2 out n
    need curl || return
    local url="imap://127.0.0.1:$port"
    local c=(curl -s -S --max-time 30 --user alice:secret1)
    "${ctl[@]}" msg "curl one" "first curl body" >"$d/m1.eml"
    "${ctl[@]}" msg "curl two" "second curl body" >"$d/m2.eml"
    "${ctl[@]}" msg "curl three" "uploaded by curl" >"$d/m3.eml"
    u1=$(srv append INBOX "$d/m1.eml") || { fail "seed"; return; }
    u2=$(srv append INBOX "$d/m2.eml" '(\Seen)') || { fail "seed"; return; }

    out=$("${c[@]}" "$url/") || fail "curl LIST exit $?"
    check "LIST shows INBOX" grep -q '^\* LIST ([^)]*) "/" INBOX' <<<"$out"
    check "LIST shows Archive as \\Archive" \
        grep -q '^\* LIST ([^)]*\\Archive[^)]*) "/" Archive' <<<"$out"

    "${c[@]}" "$url/INBOX;UID=$u1" -o "$d/got1.eml" || fail "curl FETCH exit $?"
    check "FETCH ;UID=$u1 byte-exact" cmp -s "$d/got1.eml" "$d/m1.eml"
    "${c[@]}" "$url/INBOX;UID=$u2;SECTION=TEXT" -o "$d/got2.txt" ||
        fail "curl FETCH section exit $?"
    check "FETCH ;SECTION=TEXT is the body" \
        cmp -s "$d/got2.txt" <(printf 'second curl body\r\n')
    check "FETCH BODY[] set \\Seen" grep -q 'Seen' <(srv flags INBOX "curl one")

    n=$(srv count INBOX)
    out=$("${c[@]}" "$url/" -X 'EXAMINE INBOX') || fail "curl EXAMINE exit $?"
    check "EXAMINE INBOX reports $n EXISTS" grep -q "^\* $n EXISTS" <<<"$out"
    check "EXAMINE INBOX reports UIDVALIDITY" grep -q '^\* OK \[UIDVALIDITY [1-9][0-9]*\]' <<<"$out"

    # "curl two" is the second message: sequence number 2
    out=$("${c[@]}" "$url/INBOX?SUBJECT%20%22curl%20two%22") || fail "curl SEARCH exit $?"
    expect_eq "SEARCH SUBJECT \"curl two\"" "$(tr -d '\r' <<<"$out")" "* SEARCH 2"

    "${c[@]}" -T "$d/m3.eml" "$url/INBOX" || fail "curl upload exit $?"
    expect_eq "upload adds a message" "$(srv count INBOX)" "$((n + 1))"
    srv body INBOX "curl three" >"$d/got3.eml"
    check "uploaded message byte-exact on the server" cmp -s "$d/got3.eml" "$d/m3.eml"

    curl -s --max-time 30 --user alice:wrong "$url/" >/dev/null 2>&1
    expect_eq "wrong password: curl exit 67 (login denied)" "$?" 67
}

# ------------------------------------------------------------ mbsync

section_mbsync() {
    local d=$1 s
    need mbsync || return
    local md=$d/mail
    mkdir -p "$md/INBOX/cur" "$md/INBOX/new" "$md/INBOX/tmp"
    for s in far-a far-b far-c; do
        "${ctl[@]}" msg "$s" "body of $s" >"$d/$s.eml"
        srv append INBOX "$d/$s.eml" >/dev/null || { fail "seed"; return; }
    done
    srv append-many Archive 150 bulk || { fail "seed"; return; }
    "${ctl[@]}" msg near-d "body of near-d" >"$d/near-d.eml"
    cp "$d/near-d.eml" "$md/INBOX/new/1700000000.1.lwm"
    cat >"$d/mbsyncrc" <<EOF
IMAPAccount lw
Host 127.0.0.1
Port $port
User alice
Pass secret1
SSLType None
AuthMechs LOGIN
Timeout 20

IMAPStore lw-far
Account lw

MaildirStore lw-near
Path $md/
Inbox $md/INBOX
SubFolders Verbatim

Channel lw
Far :lw-far:
Near :lw-near:
Patterns INBOX Archive
Create Both
Expunge Both
SyncState *
EOF
    local sync=(env HOME="$d" timeout 120 mbsync -q -c "$d/mbsyncrc" -a)
    check "first mbsync run" "${sync[@]}" || { cat "$d/mbsync.log" 2>/dev/null; return; }
    expect_eq "server INBOX after the first sync" \
        "$(srv subjects INBOX | sort | tr '\n' ' ')" "far-a far-b far-c near-d "
    expect_eq "Maildir INBOX after the first sync" \
        "$("${ctl[@]}" md-subjects "$md/INBOX" | sort | tr '\n' ' ')" \
        "far-a far-b far-c near-d "
    "${ctl[@]}" md-body "$md/INBOX" far-a >"$d/near-a.eml"
    # mbsync adds its own X-TUID header to the messages it copies
    check "far-a arrived intact" "${ctl[@]}" same-text "$d/near-a.eml" \
        "$d/far-a.eml" --ignore-header X-TUID
    srv body INBOX near-d >"$d/far-d.eml"
    check "near-d arrived intact" "${ctl[@]}" same-text "$d/far-d.eml" \
        "$d/near-d.eml" --ignore-header X-TUID

    expect_eq "Maildir Archive after the first sync" \
        "$("${ctl[@]}" md-subjects "$md/Archive" | wc -l)" 150

    # changes on both sides
    for i in 000 001 002 003 004 005 006 007 008 009; do
        "${ctl[@]}" md-delete "$md/Archive" "bulk $i" || fail "Maildir delete"
    done
    for i in 020 021 022 023 024; do
        "${ctl[@]}" md-setflag "$md/Archive" "bulk $i" FS || fail "Maildir flag"
    done
    for i in 145 146 147 148 149; do
        srv expunge Archive "bulk $i" || fail "EXPUNGE"
    done
    srv store INBOX far-a +FLAGS '(\Flagged)' || fail "STORE"
    srv expunge INBOX far-b || fail "EXPUNGE"
    "${ctl[@]}" md-setflag "$md/INBOX" far-c S || fail "Maildir flag"
    "${ctl[@]}" md-delete "$md/INBOX" near-d || fail "Maildir delete"
    "${ctl[@]}" msg near-e "body of near-e" >"$md/INBOX/new/1700000001.2.lwm"
    check "second mbsync run" "${sync[@]}"

    check "server flag arrived in the Maildir (F)" \
        grep -q F <<<"$("${ctl[@]}" md-flags "$md/INBOX" far-a)"
    expect_eq "server expunge arrived in the Maildir" \
        "$("${ctl[@]}" md-flags "$md/INBOX" far-b)" ABSENT
    check "Maildir flag arrived on the server (\\Seen)" \
        grep -q '\\Seen' <<<"$(srv flags INBOX far-c)"
    expect_eq "Maildir deletion arrived on the server" \
        "$(srv flags INBOX near-d)" ABSENT
    expect_eq "server INBOX after the second sync" \
        "$(srv subjects INBOX | sort | tr '\n' ' ')" "far-a far-c near-e "
    expect_eq "Maildir INBOX after the second sync" \
        "$("${ctl[@]}" md-subjects "$md/INBOX" | sort | tr '\n' ' ')" \
        "far-a far-c near-e "
    expect_eq "server Archive after the second sync" "$(srv count Archive)" 135
    expect_eq "Maildir Archive after the second sync" \
        "$("${ctl[@]}" md-subjects "$md/Archive" | wc -l)" 135
    expect_eq "server: bulk 022 flags from the Maildir" \
        "$(srv flags Archive "bulk 022")" '\Flagged \Seen'
    expect_eq "server: bulk 005 deleted in the Maildir" \
        "$(srv flags Archive "bulk 005")" ABSENT
    expect_eq "Maildir: bulk 147 expunged on the server" \
        "$("${ctl[@]}" md-flags "$md/Archive" "bulk 147")" ABSENT
    # a third run changes nothing
    check "third mbsync run" "${sync[@]}"
    expect_eq "server INBOX stable" \
        "$(srv subjects INBOX | sort | tr '\n' ' ')" "far-a far-c near-e "
}

# ------------------------------------------------------------ offlineimap

section_offlineimap() {
    local d=$1 s n files
    need offlineimap || return
    for s in oi-1 oi-2 oi-3 oi-4; do
        "${ctl[@]}" msg "$s" "offlineimap body $s" >"$d/$s.eml"
        srv append INBOX "$d/$s.eml" >/dev/null || { fail "seed"; return; }
    done
    srv store INBOX oi-2 +FLAGS '(\Flagged \Seen)' || fail "STORE"
    cat >"$d/offlineimaprc" <<EOF
[general]
accounts = lw
metadata = $d/oimeta
ui = quiet

[Account lw]
localrepository = lw-local
remoterepository = lw-remote

[Repository lw-local]
type = Maildir
localfolders = $d/oi

[Repository lw-remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = $port
remoteuser = alice
remotepass = secret1
ssl = no
starttls = no
maxconnections = 1
folderfilter = lambda f: f in ['INBOX', 'Archive']
EOF
    check "offlineimap one-time sync" \
        env HOME="$d" timeout 120 offlineimap -c "$d/offlineimaprc" -o -u quiet
    n=$(srv count INBOX)
    files=$(find "$d/oi/INBOX/cur" "$d/oi/INBOX/new" -type f 2>/dev/null | wc -l)
    expect_eq "Maildir message count equals the server's" "$files" "$n"
    for s in oi-1 oi-3; do
        "${ctl[@]}" md-body "$d/oi/INBOX" "$s" >"$d/oi-got.eml" 2>/dev/null
        check "$s body equal to the server's" \
            "${ctl[@]}" same-text "$d/oi-got.eml" "$d/$s.eml"
    done
    expect_eq "flags of oi-2 in the Maildir" \
        "$("${ctl[@]}" md-flags "$d/oi/INBOX" oi-2)" FS
    check "Archive folder created" test -d "$d/oi/Archive/cur"
}

# ------------------------------------------------------------ fetchmail

section_fetchmail() {
    local d=$1 s rc n
    need fetchmail || return
    fetchmail_setup "$d" fm 127.0.0.1 "" || return
    local fm=(env FETCHMAILHOME="$d/fm-home" HOME="$d" timeout 120
              fetchmail -f "$d/fm.rc" --protocol IMAP --port "$port"
              --keep --sslproto '' --mda "$d/fm.sh" --nosyslog
              --idfile "$d/fm-home/ids" 127.0.0.1)
    "${fm[@]}" >"$d/fetchmail.log" 2>&1
    rc=$?
    expect_eq "fetchmail exit status (0: mail delivered)" "$rc" 0 ||
        sed 's/^/      /' "$d/fetchmail.log"
    expect_eq "messages delivered" "$(find "$d/fm-out" -type f | wc -l)" 3
    for s in fm-1 fm-2 fm-3; do
        check "$s delivered with its body" \
            grep -lq "^fetchmail body line $s" "$d"/fm-out/msg.*
    done
    n=$(srv count INBOX)
    expect_eq "--keep left the messages on the server" "$n" 3
    for s in fm-1 fm-2 fm-3; do
        check "$s is \\Seen on the server" grep -q '\\Seen' <<<"$(srv flags INBOX "$s")"
    done
    # seen messages are not fetched again; exit 1 means "no mail"
    "${fm[@]}" >>"$d/fetchmail.log" 2>&1
    expect_eq "second fetchmail run: no new mail (exit 1)" "$?" 1
    expect_eq "nothing delivered twice" "$(find "$d/fm-out" -type f | wc -l)" 3
}

# ------------------------------------------------------------ neomutt

screen() { tmux -S "$tmux_sock" capture-pane -p -t nm 2>/dev/null; }
screen_has() { screen | grep -Eq "$1"; }
keys() { tmux -S "$tmux_sock" send-keys -t nm "$@"; }

# search NAME: move the cursor to the message with that subject
nm_search() {
    keys '/'
    wait_until 10 screen_has 'Search for:' || { fail "no search prompt"; return 1; }
    keys -l "~s $1"
    keys Enter
    # the cursor line is drawn in reverse video; check with the index's
    # own status: wait until the prompt is gone
    wait_until 10 eval '! screen_has "Search for:"' || { fail "search stuck"; return 1; }
}

section_neomutt() {
    local d=$1 s
    need neomutt tmux || return
    for s in nm-alpha nm-beta nm-gamma; do
        "${ctl[@]}" msg "$s" "neomutt body $s" >"$d/$s.eml"
        srv append Archive "$d/$s.eml" >/dev/null || { fail "seed"; return; }
    done
    cat >"$d/muttrc" <<EOF
set folder = "imap://alice@127.0.0.1:$port/"
set spoolfile = "+Archive"
set imap_user = "alice"
set imap_pass = "secret1"
set ssl_starttls = no
set ssl_force_tls = no
set imap_check_subscribed = no
set header_cache = ""
set message_cachedir = ""
set record = ""
set postponed = "+Drafts"
set delete = yes
set quit = yes
set move = no
set wait_key = no
set beep = no
set sleep_time = 0
set mail_check = 5
set sort = date-received
EOF
    tmux_sock=$d/tmux.sock
    tmux -S "$tmux_sock" new-session -d -s nm -x 160 -y 40 \
        "env HOME='$d' TERM=screen neomutt -n -F '$d/muttrc'; echo \$? >'$d/neomutt.exit'; sleep 600" ||
        { fail "tmux did not start"; return; }
    if ! wait_until 30 screen_has 'nm-gamma'; then
        fail "neomutt did not show the folder; screen:"
        screen | sed 's/^/      /'
        return
    fi
    note "ok   neomutt shows the IMAP folder"

    nm_search nm-beta || return
    keys d
    check "nm-beta marked deleted on screen" \
        wait_until 10 screen_has '^ +[0-9]+ .?D.* nm-beta'
    nm_search nm-alpha || return
    keys F
    check "nm-alpha flagged on screen" wait_until 10 screen_has '^ +[0-9]+ .*!.* nm-alpha'
    keys '$'
    check "server: nm-alpha is \\Flagged after \$" \
        wait_until 20 eval 'srv flags Archive nm-alpha | grep -q "\\\\Flagged"'
    check "server: nm-beta is gone after \$" \
        wait_until 20 eval '[ "$(srv flags Archive nm-beta)" = ABSENT ]'
    expect_eq "server: nm-gamma untouched" "$(srv flags Archive nm-gamma)" "-"
    expect_eq "server: Archive holds two messages" "$(srv count Archive)" 2
    # read nm-gamma in the pager: its body comes from the server, and
    # reading sets \Seen there
    nm_search nm-gamma || return
    keys Enter
    check "pager shows the body of nm-gamma" \
        wait_until 15 screen_has 'neomutt body nm-gamma'
    keys q
    check "back in the index" wait_until 10 screen_has '^ +[0-9]+ .* nm-alpha'
    keys '$'
    check "server: nm-gamma is \\Seen after reading" \
        wait_until 20 eval 'srv flags Archive nm-gamma | grep -q "\\\\Seen"'
    keys q
    check "neomutt quit with status 0" wait_until 20 test -s "$d/neomutt.exit"
    expect_eq "neomutt exit status" "$(cat "$d/neomutt.exit" 2>/dev/null)" 0
    tmux -S "$tmux_sock" kill-server >/dev/null 2>&1
    tmux_sock=
    expect_eq "server: Archive unchanged after quitting" "$(srv count Archive)" 2
}

# ------------------------------------------------------------ main

run_sections
