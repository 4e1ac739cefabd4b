/*
 * lwmaild - the lwmail server on a POSIX host (Linux, OpenWrt).
 *
 * The port: listening sockets and connections in one poll() loop, a file
 * that behaves like NOR flash (lwm_nor, mmap'ed), the wall clock, and
 * logging to stderr or syslog. Everything else is the portable core.
 *
 *   lwmaild [--config FILE] [--imap ADDR:PORT]... [--imaps ADDR:PORT]...
 *           [--cert FILE --key FILE] [--allow-plaintext-auth]
 *           [--flash PATH] [--flash-size BYTES] [--block-size BYTES]
 *           [--user NAME:PASSWORD]... [--hostname NAME] [--syslog]
 *           [--log-level LEVEL] [--format] [--help] [--version]
 *   lwmaild --hash-password [--iterations N]
 *
 * The configuration file has one "key = value" per line, with the same
 * keys as the long options (imap, imaps, cert, key, allow-plaintext-auth,
 * flash, flash-size, block-size, user, hostname, log-level, syslog); "#"
 * starts a comment. Command-line options come after the file, and
 * --imap/--imaps/--user given on the command line replace the file's.
 *
 * Users: in the file, "user = NAME:HASH" with a PBKDF2 hash string
 * (include/lwmail/lwm_auth.h; --hash-password makes one). On the command
 * line, --user NAME:PASSWORD takes a clear password for tests and quick
 * starts: it is hashed at start-up (random salt, CMDLINE_ITERATIONS) and
 * wiped from argv, but other local users can read a command line while a
 * process starts, so the file is the way for real passwords.
 */
#define _GNU_SOURCE /* accept4, SOCK_NONBLOCK */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lwm_nor.h"
#include "lwmail/lwm_auth.h"
#include "lwmail/lwm_server.h"
#include "lwmail/lwm_store.h"

#define MAX_LISTEN 4
#define MAX_USERS_CFG 16
#define CONN_SLOTS (LWM_MAX_SESSIONS + 2)  /* +2: room to refuse */

static struct lwm_store store;
static struct lwm_nor nor;

struct conn {
    int fd;                     /* -1: unused */
    int slot;                   /* core session slot */
    char peer[64];
};

/* A PEM or DER file read whole (certificate chain or private key) */
#define PEM_MAX 16384
static struct lwm_tls_cfg tls_cfg;
static uint8_t cert_buf[PEM_MAX], key_buf[PEM_MAX];

static struct {
    /* configuration */
    char imap[MAX_LISTEN][64];
    int nimap;
    char imaps[MAX_LISTEN][64];
    int nimaps;
    char cert[512], key[512];
    int allow_plaintext_auth;
    char flash[512];
    uint64_t flash_size;
    uint32_t block_size;
    /* "NAME\0HASH\0" */
    char users_buf[MAX_USERS_CFG][LWM_USER_NAME_MAX + 1 +
                                   LWM_AUTH_HASH_STR_MAX];
    struct lwm_user_cfg users[MAX_USERS_CFG];
    int nusers;
    char hostname[128];
    int log_level;
    int use_syslog;
    int format;
    /* run time */
    int lfd[2 * MAX_LISTEN];
    unsigned lflags[2 * MAX_LISTEN];        /* LWM_CONN_TLS */
    int nlisten;
    struct conn conns[CONN_SLOTS];
    struct lwm_server *srv;
} g;

static volatile sig_atomic_t stop_signal;

/* ------------------------------------------------------------ logging */

static const char *level_name(int level)
{
    switch (level) {
    case LWM_LOG_ERR: return "error";
    case LWM_LOG_WARNING: return "warning";
    case LWM_LOG_NOTICE: return "notice";
    case LWM_LOG_INFO: return "info";
    default: return "debug";
    }
}

static void logf_(int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (level > g.log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g.use_syslog) {
        syslog(level, "%s", msg);
    } else {
        struct timespec ts;
        struct tm tm;
        char when[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(stderr, "%s lwmaild %s: %s\n", when, level_name(level),
                msg);
    }
}

/* ------------------------------------------------------------ port hooks */

static int port_send(void *ctx, void *conn, const uint8_t *p, size_t len)
{
    struct conn *c = conn;
    ssize_t r;
    (void)ctx;
    if (c->fd < 0)
        return -1;
    r = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                   ? 0
                   : -1;
    return (int)r;
}

static void port_close(void *ctx, void *conn)
{
    struct conn *c = conn;
    (void)ctx;
    if (c->fd >= 0) {
        /* send what the kernel holds, then a FIN: no reset */
        shutdown(c->fd, SHUT_WR);
        close(c->fd);
    }
    c->fd = -1;
    c->slot = -1;
}

static uint32_t port_now_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u +
                      (uint64_t)ts.tv_nsec / 1000000u);
}

static int64_t port_time(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}

static void port_log(void *ctx, int level, int conn, const char *msg)
{
    (void)ctx;
    if (conn >= 0)
        logf_(level, "session %d: %s", conn, msg);
    else
        logf_(level, "%s", msg);
}

static int port_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    while (len) {
        ssize_t r = getrandom(buf, len, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += r;
        len -= (size_t)r;
    }
    return 0;
}

static const struct lwm_port port = {
    .ctx = NULL,
    .send = port_send,
    .close = port_close,
    .now_ms = port_now_ms,
    .unix_time = port_time,
    .log = port_log,
    .entropy = port_entropy,
};

/* ------------------------------------------------------------ config */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: lwmaild [options]\n"
        "  --config FILE         read options from FILE (key = value)\n"
        "  --imap ADDR:PORT      listen for IMAP with STARTTLS (repeatable;\n"
        "                        [::1]:PORT for IPv6; port 0 picks a free\n"
        "                        one)\n"
        "  --imaps ADDR:PORT     listen for IMAP over implicit TLS (repeatable)\n"
        "                        with neither option: 127.0.0.1:1143 and\n"
        "                        127.0.0.1:1993\n"
        "  --cert FILE           TLS certificate chain, PEM (default: a self-\n"
        "                        signed one made on first start, kept in\n"
        "                        the flash image)\n"
        "  --key FILE            its private key, PEM\n"
        "  --allow-plaintext-auth  allow LOGIN without TLS: for loopback and\n"
        "                        tests only, it sends passwords in clear\n"
        "  --flash PATH          flash image file (created and formatted if\n"
        "                        missing); default lwmail-flash.img\n"
        "  --flash-size BYTES    image size for a new image (K/M suffix);\n"
        "                        default 4M\n"
        "  --block-size BYTES    erase block size; default 4K, or larger when the\n"
        "                        image has more blocks than the build manages\n"
        "  --user NAME:PASSWORD  a user with a clear password, hashed at start\n"
        "                        (repeatable; for tests: other local users\n"
        "                        can see a command line, so put real users\n"
        "                        in the config file as user = NAME:HASH)\n"
        "  --hostname NAME       name in the greeting\n"
        "  --log-level LEVEL     error, warning, notice, info (default), debug\n"
        "  --syslog              log to syslog instead of stderr\n"
        "  --format              erase and format the image first\n"
        "  --help, --version\n"
        "lwmaild --hash-password [--iterations N]\n"
        "                        read a password from stdin, print its hash\n"
        "                        string for 'user = NAME:HASH' (PBKDF2-SHA256,\n"
        "                        16-byte random salt, default 100000\n"
        "                        iterations)\n");
}

/* ------------------------------------------------------------ users */

/* --user NAME:PASSWORD on the command line is for tests and quick starts:
 * fewer iterations than --hash-password's default keep logins fast under
 * sanitizers, while still salting and stretching the password. */
#define CMDLINE_ITERATIONS 10000u
#define HASH_ITERATIONS 100000u

/* A user: "NAME:HASH" from the file, or "NAME:PASSWORD" from the command
 * line (clear), hashed here with a random salt. Returns 0 or -1. */
static int add_user(const char *val, int clear, int *user_reset)
{
    const char *colon = strchr(val, ':');
    char *buf;
    size_t nl, room;
    if (*user_reset) {
        g.nusers = 0;
        *user_reset = 0;
    }
    if (g.nusers == MAX_USERS_CFG || !colon || colon == val || !colon[1] ||
        (nl = (size_t)(colon - val)) > LWM_USER_NAME_MAX)
        return -1;
    if (val[0] == '#') {
        fprintf(stderr, "lwmaild: user names starting with '#' are "
                "reserved\n");
        return -1;
    }
    buf = g.users_buf[g.nusers];
    room = sizeof g.users_buf[0] - nl - 1;
    memcpy(buf, val, nl);
    buf[nl] = 0;
    if (clear) {
        uint8_t salt[16];
        if (port_entropy(NULL, salt, sizeof salt) < 0 ||
            lwm_auth_hash(colon + 1, strlen(colon + 1), salt, sizeof salt,
                          CMDLINE_ITERATIONS, buf + nl + 1, room) < 0) {
            fprintf(stderr, "lwmaild: user %s: cannot hash the password\n",
                    buf);
            return -1;
        }
    } else {
        if (strlen(colon + 1) >= room || lwm_auth_hash_check(colon + 1) < 0) {
            fprintf(stderr, "lwmaild: user %s: not a password hash string "
                    "(make one with lwmaild --hash-password)\n", buf);
            return -1;
        }
        strcpy(buf + nl + 1, colon + 1);
    }
    g.users[g.nusers].name = buf;
    g.users[g.nusers].pass_hash = buf + nl + 1;
    g.nusers++;
    return 0;
}

/* lwmaild --hash-password [--iterations N]: one line from stdin (echo off
 * on a terminal) to a hash string on stdout. stdin is unbuffered so no
 * copy of the password stays in a stdio buffer. */
static int hash_password(int argc, char **argv)
{
    unsigned long iters = HASH_ITERATIONS;
    char pw[1024], out[LWM_AUTH_HASH_STR_MAX];
    uint8_t salt[16];
    struct termios old, quiet;
    int i, tty = isatty(0), r;
    size_t n;
    char *got;
    for (i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "--hash-password"))
            continue;
        if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
            errno = 0;
            iters = strtoul(argv[++i], &end, 10);
            if (!*end && !errno && end != argv[i] && argv[i][0] != '-')
                continue;
        }
        fprintf(stderr, "usage: lwmaild --hash-password [--iterations N]\n");
        return 2;
    }
    if (iters < LWM_AUTH_ITER_MIN || iters > LWM_AUTH_ITER_MAX) {
        fprintf(stderr, "lwmaild: --iterations must be %u to %u\n",
                LWM_AUTH_ITER_MIN, LWM_AUTH_ITER_MAX);
        return 2;
    }
    setvbuf(stdin, NULL, _IONBF, 0);
    if (tty && tcgetattr(0, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        fputs("Password: ", stderr);
        tcsetattr(0, TCSAFLUSH, &quiet);
    } else {
        tty = 0;
    }
    got = fgets(pw, sizeof pw, stdin);
    if (tty) {
        tcsetattr(0, TCSAFLUSH, &old);
        fputs("\n", stderr);
    }
    n = got ? strlen(pw) : 0;
    if (n && pw[n - 1] == '\n')
        pw[--n] = 0;
    else if (n == sizeof pw - 1)
        n = 0, got = NULL;          /* longer than the buffer */
    if (n && pw[n - 1] == '\r')
        pw[--n] = 0;
    if (!got || !n) {
        lwm_auth_zeroize(pw, sizeof pw);
        fprintf(stderr, "lwmaild: expected one password line (1 to %d "
                "bytes) on stdin\n", (int)sizeof pw - 2);
        return 2;
    }
    r = port_entropy(NULL, salt, sizeof salt);
    if (r == 0)
        r = lwm_auth_hash(pw, n, salt, sizeof salt, (uint32_t)iters, out,
                          sizeof out);
    lwm_auth_zeroize(pw, sizeof pw);
    if (r < 0) {
        fprintf(stderr, "lwmaild: cannot hash the password\n");
        return 1;
    }
    printf("%s\n", out);
    return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        return -1;
    if (*end == 'K' || *end == 'k')
        v *= 1024ull, end++;
    else if (*end == 'M' || *end == 'm')
        v *= 1024ull * 1024ull, end++;
    else if (*end == 'G' || *end == 'g')
        v *= 1024ull * 1024ull * 1024ull, end++;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static int parse_level(const char *s)
{
    if (!strcmp(s, "error")) return LWM_LOG_ERR;
    if (!strcmp(s, "warning")) return LWM_LOG_WARNING;
    if (!strcmp(s, "notice")) return LWM_LOG_NOTICE;
    if (!strcmp(s, "info")) return LWM_LOG_INFO;
    if (!strcmp(s, "debug")) return LWM_LOG_DEBUG;
    return -1;
}

/* One option, from the command line or the file. Returns 0 or -1. */
static int set_option(const char *key, const char *val, int *imap_reset,
                      int *user_reset)
{
    uint64_t v;
    if (!strcmp(key, "imap") || !strcmp(key, "imaps")) {
        int tls = key[4] == 's';
        if (*imap_reset) {
            g.nimap = g.nimaps = 0;
            *imap_reset = 0;
        }
        if ((tls ? g.nimaps : g.nimap) == MAX_LISTEN ||
            strlen(val) >= sizeof g.imap[0])
            return -1;
        if (tls)
            strcpy(g.imaps[g.nimaps++], val);
        else
            strcpy(g.imap[g.nimap++], val);
    } else if (!strcmp(key, "cert") || !strcmp(key, "key")) {
        char *dst = key[0] == 'c' ? g.cert : g.key;
        if (strlen(val) >= sizeof g.cert)
            return -1;
        strcpy(dst, val);
    } else if (!strcmp(key, "allow-plaintext-auth")) {
        g.allow_plaintext_auth = !strcmp(val, "1") || !strcmp(val, "yes") ||
                                 !strcmp(val, "true");
    } else if (!strcmp(key, "flash")) {
        if (strlen(val) >= sizeof g.flash)
            return -1;
        strcpy(g.flash, val);
    } else if (!strcmp(key, "flash-size")) {
        if (parse_size(val, &v) < 0 || v < 64 * 1024 || v > (1ull << 32))
            return -1;
        g.flash_size = v;
    } else if (!strcmp(key, "block-size")) {
        if (parse_size(val, &v) < 0 || v < 512 || v > (1u << 20) ||
            (v & (v - 1)))
            return -1;
        g.block_size = (uint32_t)v;
    } else if (!strcmp(key, "user")) {
        /* the file's users come with hashes; --user is handled in main */
        if (add_user(val, 0, user_reset) < 0)
            return -1;
    } else if (!strcmp(key, "hostname")) {
        if (strlen(val) >= sizeof g.hostname)
            return -1;
        strcpy(g.hostname, val);
    } else if (!strcmp(key, "log-level")) {
        if ((g.log_level = parse_level(val)) < 0)
            return -1;
    } else if (!strcmp(key, "syslog")) {
        g.use_syslog = !strcmp(val, "1") || !strcmp(val, "yes") ||
                       !strcmp(val, "true");
    } else {
        return -1;
    }
    return 0;
}

static int read_config(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[768];
    int lineno = 0, ir = 0, ur = 0;
    if (!f) {
        fprintf(stderr, "lwmaild: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char *p = line, *eq, *k, *v, *e;
        lineno++;
        if ((e = strchr(p, '#')) != NULL)
            *e = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        e = p + strlen(p);
        while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' ||
                         e[-1] == '\t'))
            *--e = 0;
        if (!*p)
            continue;
        eq = strchr(p, '=');
        if (!eq) {
            fprintf(stderr, "lwmaild: %s:%d: expected key = value\n", path,
                    lineno);
            fclose(f);
            return -1;
        }
        *eq = 0;
        k = p;
        v = eq + 1;
        e = eq;
        while (e > k && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = 0;
        while (*v == ' ' || *v == '\t')
            v++;
        if (set_option(k, v, &ir, &ur) < 0) {
            fprintf(stderr, "lwmaild: %s:%d: bad option %s\n", path, lineno,
                    k);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

/* Read a certificate or key file whole; PEM gets its terminating NUL
 * counted, as mbedTLS wants. */
static int read_pem(const char *path, uint8_t *buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    if (!f) {
        logf_(LWM_LOG_ERR, "%s: %s", path, strerror(errno));
        return -1;
    }
    n = fread(buf, 1, PEM_MAX - 1, f);
    if (!feof(f)) {
        logf_(LWM_LOG_ERR, "%s: larger than %d bytes", path, PEM_MAX - 1);
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[n] = 0;
    *len = strstr((char *)buf, "-----BEGIN") ? n + 1 : n;
    return 0;
}

/* ------------------------------------------------------------ sockets */

static int listen_on(const char *spec, char *shown, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    char host[64];
    const char *colon;
    long portno;
    int fd, one = 1;
    memset(&ss, 0, sizeof ss);
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof host)
            return -1;
        memcpy(host, spec + 1, (size_t)(rb - spec - 1));
        host[rb - spec - 1] = 0;
        colon = rb + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof host)
            return -1;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = 0;
    }
    portno = strtol(colon + 1, NULL, 10);
    if (portno < 0 || portno > 65535)
        return -1;
    if (strchr(host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)portno);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return -1;
        sl = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)portno);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return -1;
        sl = sizeof *a;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 16) < 0) {
        close(fd);
        return -1;
    }
    /* report the port actually bound (port 0 picks one) */
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET6)
        snprintf(shown, cap, "[%s]:%u", host,
                 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    else
        snprintf(shown, cap, "%s:%u", host,
                 ntohs(((struct sockaddr_in *)&ss)->sin_port));
    return fd;
}

static void accept_one(int lfd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "?";
    struct conn *c = NULL;
    int fd, i, one = 1;
    unsigned flags = 0;
    for (i = 0; i < g.nlisten; i++)
        if (g.lfd[i] == lfd)
            flags = g.lflags[i];
    fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
                 SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    for (i = 0; i < CONN_SLOTS; i++) {
        if (g.conns[i].fd < 0) {
            c = &g.conns[i];
            break;
        }
    }
    if (!c) {
        /* even the spare slots are busy: no greeting possible */
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr,
                  sizeof addr);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr,
                  sizeof addr);
    c->fd = fd;
    snprintf(c->peer, sizeof c->peer, "%s", addr);
    c->slot = -1;
    c->slot = lwm_conn_open(g.srv, c, c->peer, flags);
    /* a refused connection was closed by the core through port_close */
}

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* ------------------------------------------------------------ main */

static int open_store(void)
{
    uint32_t blocks;
    struct stat sb;
    int exists = stat(g.flash, &sb) == 0, err;
    if (!g.block_size) {
        /* not given: 4 KiB, or larger so the image (an existing one
         * decides its own size) fits the block table */
        uint64_t size = exists ? (uint64_t)sb.st_size : g.flash_size;
        g.block_size = 4096;
        while (size / g.block_size > LWM_STORE_MAX_BLOCKS &&
               g.block_size < (1u << 20))
            g.block_size *= 2;
    }
    blocks = (uint32_t)(g.flash_size / g.block_size);
    if (exists && (uint64_t)sb.st_size != g.flash_size) {
        /* the image decides its size; the option is for new images */
        if (sb.st_size % g.block_size) {
            logf_(LWM_LOG_ERR, "%s: size %lld is not a multiple of the "
                  "block size %u", g.flash, (long long)sb.st_size,
                  g.block_size);
            return -1;
        }
        blocks = (uint32_t)(sb.st_size / g.block_size);
    }
    if (blocks > LWM_STORE_MAX_BLOCKS) {
        logf_(LWM_LOG_ERR, "%s: %u blocks of %u bytes is more than the %u "
              "blocks this build manages (LWM_STORE_MAX_BLOCKS); use a "
              "larger --block-size", g.flash, blocks, g.block_size,
              (unsigned)LWM_STORE_MAX_BLOCKS);
        return -1;
    }
    err = lwm_nor_open(&nor, g.flash, g.block_size, blocks, 4, 1, 1);
    if (err) {
        logf_(LWM_LOG_ERR, "%s: %s", g.flash, lwm_strerror(err));
        return -1;
    }
    err = g.format ? LWM_ERR_CORRUPT : lwm_store_mount(&store, &nor.flash);
    if (err == LWM_ERR_CORRUPT && (!exists || g.format)) {
        logf_(LWM_LOG_NOTICE, "formatting %s: %u blocks of %u bytes",
              g.flash, blocks, g.block_size);
        err = lwm_store_format(&store, &nor.flash);
    } else if (err == LWM_ERR_CORRUPT) {
        logf_(LWM_LOG_ERR, "%s holds no lwmail store; refusing to "
              "overwrite it (use --format)", g.flash);
        return -1;
    }
    if (err) {
        logf_(LWM_LOG_ERR, "mount %s: %s", g.flash, lwm_strerror(err));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct lwm_server_cfg cfg;
    struct sigaction sa;
    int i, err, ir = 1, ur = 1;
    const char *config = NULL;

    g.flash_size = 4u << 20;
    g.block_size = 0;           /* chosen from the size unless given */
    g.log_level = LWM_LOG_INFO;
    strcpy(g.flash, "lwmail-flash.img");

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("lwmaild %s (disk format %d)\n", LWM_VERSION,
                   LWM_DISK_VERSION);
            return 0;
        }
        if (!strcmp(argv[i], "--hash-password"))
            return hash_password(argc, argv);
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config = argv[++i];
    }
    if (config && read_config(config) < 0)
        return 2;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (!strcmp(a, "--syslog")) {
            g.use_syslog = 1;
            continue;
        }
        if (!strcmp(a, "--format")) {
            g.format = 1;
            continue;
        }
        if (!strcmp(a, "--allow-plaintext-auth")) {
            g.allow_plaintext_auth = 1;
            continue;
        }
        if (!strcmp(a, "--user") && i + 1 < argc) {
            char *pw = strchr(argv[i + 1], ':');
            int r = add_user(argv[i + 1], 1, &ur);
            /* the clear password: out of argv (/proc/PID/cmdline) now */
            if (pw)
                lwm_auth_zeroize(pw + 1, strlen(pw + 1));
            if (r < 0) {
                fprintf(stderr, "lwmaild: bad option or value: %s\n", a);
                return 2;
            }
            i++;
            continue;
        }
        if (strncmp(a, "--", 2) || i + 1 >= argc ||
            set_option(a + 2, argv[i + 1], &ir, &ur) < 0) {
            fprintf(stderr, "lwmaild: bad option or value: %s\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (g.use_syslog)
        openlog("lwmaild", LOG_PID, LOG_MAIL);
    if (g.nusers == 0)
        logf_(LWM_LOG_WARNING, "no users configured: nobody can log in "
              "(config: user = NAME:HASH, from lwmaild --hash-password)");

    if (open_store() < 0)
        return 1;

    if (!g.nimap && !g.nimaps) {
        strcpy(g.imap[g.nimap++], "127.0.0.1:1143");
        strcpy(g.imaps[g.nimaps++], "127.0.0.1:1993");
    }
    if (!g.cert[0] != !g.key[0]) {
        logf_(LWM_LOG_ERR, "--cert and --key go together");
        return 2;
    }
    if (g.cert[0]) {
        if (read_pem(g.cert, cert_buf, &tls_cfg.cert_len) < 0 ||
            read_pem(g.key, key_buf, &tls_cfg.key_len) < 0)
            return 1;
        tls_cfg.cert = cert_buf;
        tls_cfg.key = key_buf;
    }
    if (g.allow_plaintext_auth)
        logf_(LWM_LOG_WARNING, "plaintext logins allowed without TLS: "
              "for loopback and tests only");

    memset(&cfg, 0, sizeof cfg);
    cfg.tls = &tls_cfg;
    cfg.allow_plaintext_auth = g.allow_plaintext_auth;
    cfg.store = &store;
    cfg.port = &port;
    cfg.users = g.users;
    cfg.nusers = (uint32_t)g.nusers;
    cfg.hostname = g.hostname[0] ? g.hostname : NULL;
    g.srv = lwm_server_init(&cfg, &err);
    /* the key is parsed: no copy stays in this process's data */
    memset(key_buf, 0, sizeof key_buf);
    if (!g.srv) {
        logf_(LWM_LOG_ERR, "server init: %s", lwm_strerror(err));
        return 1;
    }
    for (i = 0; i < CONN_SLOTS; i++)
        g.conns[i].fd = -1;
    for (i = 0; i < g.nimap + g.nimaps; i++) {
        char shown[96];
        int tls = i >= g.nimap;
        const char *spec = tls ? g.imaps[i - g.nimap] : g.imap[i];
        int fd = listen_on(spec, shown, sizeof shown);
        if (fd < 0) {
            logf_(LWM_LOG_ERR, "cannot listen on %s: %s", spec,
                  strerror(errno));
            return 1;
        }
        g.lfd[g.nlisten] = fd;
        g.lflags[g.nlisten++] = tls ? LWM_CONN_TLS : 0;
        logf_(LWM_LOG_NOTICE, "%s listening on %s",
              tls ? "IMAPS" : "IMAP", shown);
        /* machine-readable too, for scripts and tests */
        printf("%s %s\n", tls ? "imaps" : "imap", shown);
    }
    fflush(stdout);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    {
        struct lwm_store_stats stt;
        lwm_store_stats(&store, &stt);
        logf_(LWM_LOG_INFO, "store: %u messages, %u mailboxes, %u users; "
              "%u of %u blocks free", stt.msgs, stt.mboxes, stt.users,
              stt.blocks_free, stt.blocks_total);
    }

    while (!stop_signal) {
        struct pollfd pfd[2 * MAX_LISTEN + CONN_SLOTS];
        struct conn *who[2 * MAX_LISTEN + CONN_SLOTS];
        int n = 0, wait_ms, r;
        wait_ms = lwm_server_poll(g.srv);
        for (i = 0; i < g.nlisten; i++) {
            pfd[n].fd = g.lfd[i];
            pfd[n].events = POLLIN;
            who[n++] = NULL;
        }
        for (i = 0; i < CONN_SLOTS; i++) {
            struct conn *c = &g.conns[i];
            if (c->fd < 0 || c->slot < 0)
                continue;
            pfd[n].fd = c->fd;
            pfd[n].events = 0;
            if (lwm_conn_rx_room(g.srv, c->slot))
                pfd[n].events |= POLLIN;
            if (lwm_conn_wants_output(g.srv, c->slot))
                pfd[n].events |= POLLOUT;
            who[n++] = c;
        }
        r = poll(pfd, (nfds_t)n, wait_ms);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            logf_(LWM_LOG_ERR, "poll: %s", strerror(errno));
            break;
        }
        for (i = 0; i < n; i++) {
            struct conn *c = who[i];
            if (!pfd[i].revents)
                continue;
            if (!c) {
                accept_one(pfd[i].fd);
                continue;
            }
            if (c->fd != pfd[i].fd || c->slot < 0)
                continue;       /* closed while handling an earlier fd */
            if (pfd[i].revents & POLLOUT)
                lwm_conn_output(g.srv, c->slot);
            if (c->fd >= 0 && c->slot >= 0 &&
                (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                uint8_t buf[16384];
                size_t room = lwm_conn_rx_room(g.srv, c->slot);
                ssize_t got;
                if (room > sizeof buf)
                    room = sizeof buf;
                if (room == 0 && !(pfd[i].revents & (POLLHUP | POLLERR)))
                    continue;
                got = room ? recv(c->fd, buf, room, MSG_DONTWAIT) : 0;
                if (got > 0) {
                    lwm_conn_input(g.srv, c->slot, buf, (size_t)got);
                } else if (got == 0 ||
                           (errno != EAGAIN && errno != EINTR)) {
                    int slot = c->slot;
                    close(c->fd);
                    c->fd = -1;
                    c->slot = -1;
                    lwm_conn_gone(g.srv, slot);
                }
            }
        }
    }

    logf_(LWM_LOG_NOTICE, "stopping (signal %d)", (int)stop_signal);
    lwm_server_shutdown(g.srv);
    /* give the goodbyes a moment to leave, without waiting on anyone */
    for (i = 0; i < CONN_SLOTS; i++)
        if (g.conns[i].fd >= 0)
            port_close(NULL, &g.conns[i]);
    lwm_store_unmount(&store);
    lwm_nor_close(&nor);
    logf_(LWM_LOG_NOTICE, "stopped");
    return 0;
}
