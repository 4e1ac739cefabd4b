/*
 * lwmail-demo: the message store on a file that behaves like NOR flash.
 *
 * Until the IMAP server exists (issue 3), this is what the README's run
 * command starts: it opens (or creates and formats) the flash image, makes
 * sure the default user exists, delivers the files named on the command line
 * (or one generated message) into INBOX, lists every mailbox with its
 * counters, runs garbage collection until idle and prints the store's
 * figures. Run it twice: the mail from the first run is still there.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwm_nor.h"
#include "lwmail/lwm_store.h"

static struct lwm_nor nor;
static struct lwm_store store;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: lwmail-demo [options] [message-file ...]\n"
        "  --flash PATH         flash image (created if missing)\n"
        "  --flash-size BYTES   size of a new image (default 4194304)\n"
        "  --block-size BYTES   erase block size (default 4096)\n"
        "  --user NAME          mailbox owner (default: mail)\n"
        "  --list               only list, deliver nothing\n"
        "  --read UID           print message UID of INBOX\n"
        "  --help, --version\n");
}

static int deliver(int inbox, const char *path)
{
    char buf[4096];
    FILE *in = NULL;
    int a, err = 0;
    size_t n;

    if (path) {
        in = fopen(path, "rb");
        if (!in) {
            fprintf(stderr, "lwmail-demo: %s: %s\n", path, strerror(errno));
            return -1;
        }
    }
    a = lwm_append_begin(&store, inbox, (uint32_t)time(NULL), 0);
    if (a < 0) {
        fprintf(stderr, "lwmail-demo: append: %s\n", lwm_strerror(a));
        if (in)
            fclose(in);
        return a;
    }
    if (in) {
        while (!err && (n = fread(buf, 1, sizeof buf, in)) > 0)
            err = lwm_append_write(&store, a, buf, (uint32_t)n);
        fclose(in);
    } else {
        time_t now = time(NULL);
        char date[64];
        int len;
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000",
                 gmtime(&now));
        len = snprintf(buf, sizeof buf,
            "From: lwmail-demo <demo@localhost>\r\n"
            "To: mail@localhost\r\n"
            "Subject: Hello from the flash store\r\n"
            "Date: %s\r\n"
            "\r\n"
            "This message was written to an emulated NOR flash image by\r\n"
            "lwmail-demo. Run the demo again: it is still there.\r\n",
            date);
        err = lwm_append_write(&store, a, buf, (uint32_t)len);
    }
    if (err) {
        lwm_append_abort(&store, a);
        fprintf(stderr, "lwmail-demo: append: %s\n", lwm_strerror(err));
        return err;
    }
    err = lwm_append_commit(&store, a);
    if (err < 0) {
        fprintf(stderr, "lwmail-demo: commit: %s\n", lwm_strerror(err));
        return err;
    }
    printf("delivered %s to INBOX as UID %d\n", path ? path : "a message", err);
    return 0;
}

static void list(int user)
{
    int m = -1;
    printf("%-24s %8s %8s %10s %12s %12s\n", "mailbox", "exists", "unseen",
           "bytes", "uidvalidity", "uidnext");
    while ((m = lwm_mbox_next(&store, user, m)) >= 0) {
        struct lwm_mbox_info mi;
        if (lwm_mbox_info(&store, m, &mi))
            continue;
        printf("%-24s %8" PRIu32 " %8" PRIu32 " %10" PRIu64 " %12" PRIu32
               " %12" PRIu32 "\n", mi.name, mi.exists, mi.unseen, mi.size,
               mi.uidvalidity, mi.uidnext);
    }
}

static int show(int inbox, uint32_t uid)
{
    struct lwm_msg msg;
    char buf[1024];
    uint32_t off = 0;
    int i = lwm_msg_find(&store, inbox, uid, 0), n;
    if (i < 0 || lwm_msg_get(&store, inbox, (uint32_t)i, &msg) < 0) {
        fprintf(stderr, "lwmail-demo: no UID %" PRIu32 " in INBOX\n", uid);
        return 1;
    }
    while ((n = lwm_msg_read(&store, &msg, off, buf, sizeof buf)) > 0) {
        fwrite(buf, 1, (size_t)n, stdout);
        off += (uint32_t)n;
    }
    return n < 0;
}

int main(int argc, char **argv)
{
    const char *path = "lwmail-flash.img", *user_name = "mail";
    unsigned long size = 4194304, bsize = 4096;
    int i, err, user, inbox, only_list = 0, nfiles = 0, steps = 0;
    long read_uid = -1;
    struct lwm_store_stats st;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("lwmail-demo 0.1 (disk format %d)\n", LWM_DISK_VERSION);
            return 0;
        } else if (!strcmp(a, "--list")) {
            only_list = 1;
        } else if (i + 1 < argc && !strcmp(a, "--flash")) {
            path = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--flash-size")) {
            size = strtoul(argv[++i], NULL, 0);
        } else if (i + 1 < argc && !strcmp(a, "--block-size")) {
            bsize = strtoul(argv[++i], NULL, 0);
        } else if (i + 1 < argc && !strcmp(a, "--user")) {
            user_name = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--read")) {
            read_uid = strtol(argv[++i], NULL, 0);
        } else if (a[0] == '-') {
            usage(stderr);
            return 2;
        } else {
            nfiles++;
        }
    }
    if (bsize < 512 || size < 8 * bsize || size % bsize ||
        size / bsize > LWM_STORE_MAX_BLOCKS) {
        fprintf(stderr, "lwmail-demo: flash must be 8 to %d blocks of >= 512 "
                "bytes\n", LWM_STORE_MAX_BLOCKS);
        return 2;
    }
    err = lwm_nor_open(&nor, path, (uint32_t)bsize, (uint32_t)(size / bsize),
                       4, 4, 1);
    if (err) {
        fprintf(stderr, "lwmail-demo: %s: %s\n", path, lwm_strerror(err));
        return 1;
    }
    err = lwm_store_mount(&store, &nor.flash);
    if (err == LWM_ERR_CORRUPT) {
        printf("no store on %s: formatting %lu blocks of %lu bytes\n", path,
               size / bsize, bsize);
        err = lwm_store_format(&store, &nor.flash);
    }
    if (err) {
        fprintf(stderr, "lwmail-demo: mount: %s\n", lwm_strerror(err));
        return 1;
    }
    user = lwm_user_find(&store, user_name);
    if (user < 0) {
        user = lwm_user_create(&store, user_name);
        if (user < 0) {
            fprintf(stderr, "lwmail-demo: user: %s\n", lwm_strerror(user));
            return 1;
        }
        printf("created user %s with INBOX, Sent, Drafts, Trash, Junk, "
               "Archive\n", user_name);
    }
    inbox = lwm_mbox_find(&store, user, "INBOX", 5);
    if (read_uid >= 0)
        return show(inbox, (uint32_t)read_uid);
    if (!only_list) {
        if (nfiles == 0) {
            deliver(inbox, NULL);
        } else {
            for (i = 1; i < argc; i++) {
                if (argv[i][0] == '-') {
                    if (strcmp(argv[i], "--list"))
                        i++;
                    continue;
                }
                deliver(inbox, argv[i]);
            }
        }
    }
    list(user);
    while (steps < 100000 && (err = lwm_store_gc_step(&store)) == 1)
        steps++;
    err = lwm_store_check(&store, 1);
    lwm_store_stats(&store, &st);
    printf("store %s: %" PRIu32 " messages, %" PRIu32 "/%" PRIu32
           " blocks free, erase counts %" PRIu32 "..%" PRIu32
           ", %u B RAM per message, %" PRIu32 " B RAM in all, check %s\n",
           path, st.msgs, st.blocks_free, st.blocks_total, st.erase_min,
           st.erase_max, (unsigned)st.ram_per_msg, st.ram_total,
           err ? lwm_strerror(err) : "ok");
    lwm_store_unmount(&store);
    lwm_nor_close(&nor);
    return err ? 1 : 0;
}
