/*
 * The flash device: a region of the board's PSRAM (0x21000000) with NOR
 * semantics, standing in for an external SPI/QSPI NOR part.
 *
 *  - erase(block) sets the block to 0xFF;
 *  - prog() may only program bytes that are erased (the store's rule,
 *    stricter than NOR's "only clear bits": see include/lwmail/lwm_flash.h
 *    and ports/posix/lwm_nor.c), at prog_size alignment; the bytes are
 *    ANDed in, as a NOR array does; a broken rule is counted and fails
 *    with LWM_ERR_IO instead of corrupting anything silently;
 *  - reads are memcpy; with LWM_BOARD_FLASH_MAPPED the region is also
 *    offered as a memory-mapped view (like XIP flash), so the store and
 *    FETCH can read without copying (off by default: see lwm_config.h).
 *
 * Persistence across runs of the emulator (the choice, documented in
 * boards/qemu-mps2-an385/README.md): the image lives in a host file named
 * by the option flash=PATH on the emulator's command line (QEMU's
 * -append). At boot the file is read into the region through semihosting
 * (SYS_OPEN, SYS_READ); a missing file is created as an erased image.
 * After that the file is kept up to date at every sync(): each erase
 * block changed since the last sync is written back (SYS_SEEK,
 * SYS_WRITE). So the file is exactly as durable as the flash the store
 * believes it has: killing QEMU at any moment leaves the image the store
 * last synced, plus possibly some later writes — what a power cut leaves
 * on real NOR. No clean shutdown is needed, which suits a test that
 * simply kills the emulator. Without flash= (or without -semihosting) the
 * region starts erased and lives in RAM only.
 *
 * Writing back at shutdown only (the other option) would lose everything
 * on a kill, and preloading with QEMU's -device loader would need the
 * address in the test and a second mechanism for saving.
 */
#include <string.h>

#include "board.h"
#include "board_int.h"
#include "lwmail/lwm_err.h"
#include "lwmail/lwm_opts.h"

#define FLASH_SIZE (LWM_BOARD_FLASH_BLOCK_SIZE * LWM_BOARD_FLASH_BLOCKS)

_Static_assert(FLASH_SIZE <= 16u * 1024u * 1024u,
               "the emulated flash must fit the 16 MiB PSRAM");
_Static_assert(LWM_BOARD_FLASH_BLOCKS <= LWM_STORE_MAX_BLOCKS,
               "LWM_STORE_MAX_BLOCKS must cover the flash's blocks");

/* In the EXTFLASH region (PSRAM): NOLOAD, so not part of the image and
 * not of the RAM figures. */
static uint8_t flash_mem[FLASH_SIZE]
    __attribute__((section(".extflash"), aligned(4096)));

/* erase blocks changed since the last sync (host-backed only) */
static uint32_t dirty[(LWM_BOARD_FLASH_BLOCKS + 31) / 32];
static int host_fd = -1;
static struct board_flash_stats st;

static void mark_dirty(uint32_t addr, uint32_t len)
{
    uint32_t b, last;

    if (host_fd < 0 || len == 0)
        return;
    last = (addr + len - 1) / LWM_BOARD_FLASH_BLOCK_SIZE;
    for (b = addr / LWM_BOARD_FLASH_BLOCK_SIZE; b <= last; b++)
        dirty[b / 32] |= 1u << (b % 32);
}

static int in_range(uint32_t addr, uint32_t len)
{
    return addr <= FLASH_SIZE && len <= FLASH_SIZE - addr;
}

static int rf_read(const struct lwm_flash *f, uint32_t addr, void *buf,
                   uint32_t len)
{
    if (addr % f->read_size || len % f->read_size || !in_range(addr, len)) {
        st.violations++;
        return LWM_ERR_INVAL;
    }
    memcpy(buf, flash_mem + addr, len);
    st.reads++;
    return LWM_OK;
}

static int rf_prog(const struct lwm_flash *f, uint32_t addr, const void *buf,
                   uint32_t len)
{
    const uint8_t *src = buf;
    uint8_t *dst = flash_mem + addr;
    uint32_t i;

    if (addr % f->prog_size || len % f->prog_size || !in_range(addr, len)) {
        st.violations++;
        return LWM_ERR_INVAL;
    }
    for (i = 0; i < len; i++) {
        if (dst[i] != 0xFF) {
            st.violations++;
            return LWM_ERR_IO;
        }
    }
    for (i = 0; i < len; i++)
        dst[i] &= src[i];
    mark_dirty(addr, len);
    st.progs++;
    return LWM_OK;
}

static int rf_erase(const struct lwm_flash *f, uint32_t block)
{
    (void)f;
    if (block >= LWM_BOARD_FLASH_BLOCKS) {
        st.violations++;
        return LWM_ERR_INVAL;
    }
    memset(flash_mem + block * LWM_BOARD_FLASH_BLOCK_SIZE, 0xFF,
           LWM_BOARD_FLASH_BLOCK_SIZE);
    mark_dirty(block * LWM_BOARD_FLASH_BLOCK_SIZE,
               LWM_BOARD_FLASH_BLOCK_SIZE);
    st.erases++;
    return LWM_OK;
}

/* Write every dirty block back to the host file. */
static int rf_sync(const struct lwm_flash *f)
{
    uint32_t b;

    (void)f;
    st.syncs++;
    if (host_fd < 0)
        return LWM_OK;
    for (b = 0; b < LWM_BOARD_FLASH_BLOCKS; b++) {
        uint32_t off = b * LWM_BOARD_FLASH_BLOCK_SIZE;

        if (!(dirty[b / 32] & (1u << (b % 32))))
            continue;
        if (sh_seek(host_fd, off) < 0 ||
            sh_write_all(host_fd, flash_mem + off,
                         LWM_BOARD_FLASH_BLOCK_SIZE) < 0) {
            board_printf("flash: writing block %lu to the host file "
                         "failed\r\n", (unsigned long)b);
            return LWM_ERR_IO;
        }
        dirty[b / 32] &= ~(1u << (b % 32));
        st.host_writes++;
    }
    return LWM_OK;
}

static const struct lwm_flash rf_dev = {
    .ctx = NULL,
    .read = rf_read,
    .prog = rf_prog,
    .erase = rf_erase,
    .sync = rf_sync,
    .block_size = LWM_BOARD_FLASH_BLOCK_SIZE,
    .block_count = LWM_BOARD_FLASH_BLOCKS,
    .prog_size = LWM_BOARD_FLASH_PROG_SIZE,
    .read_size = LWM_BOARD_FLASH_READ_SIZE,
#if LWM_BOARD_FLASH_MAPPED
    .mapped = flash_mem,
#else
    .mapped = NULL,
#endif
};

const struct lwm_flash *board_flash_init(int *fresh)
{
    char path[200];
    long len;
    int fd;

    memset(flash_mem, 0xFF, sizeof flash_mem);
    *fresh = 1;
    if (!board_option("flash", path, sizeof path)) {
        board_printf("flash: %lu KiB in RAM only (no flash=PATH option)\r\n",
                     (unsigned long)(FLASH_SIZE / 1024u));
        return &rf_dev;
    }
    if (!board_semihosting()) {
        board_printf("flash: no semihosting: %s not used, RAM only\r\n",
                     path);
        return &rf_dev;
    }
    fd = sh_open(path, SH_MODE_RPLUSB);
    if (fd >= 0) {
        len = sh_flen(fd);
        if (len < 0 || (unsigned long)len > FLASH_SIZE) {
            board_printf("flash: %s is %ld bytes, not at most %lu\r\n", path,
                         len, (unsigned long)FLASH_SIZE);
            sh_close(fd);
            return NULL;
        }
        if (len > 0 && (sh_seek(fd, 0) < 0 ||
                        sh_read_all(fd, flash_mem, (uint32_t)len) < 0)) {
            board_printf("flash: reading %s failed\r\n", path);
            sh_close(fd);
            return NULL;
        }
        *fresh = len == 0;
        host_fd = fd;
        /* a short file: the rest is erased flash, written out below */
        if ((unsigned long)len < FLASH_SIZE)
            mark_dirty((uint32_t)len, FLASH_SIZE - (uint32_t)len);
        board_printf("flash: %s loaded (%ld bytes)\r\n", path, len);
    } else {
        fd = sh_open(path, SH_MODE_WPLUSB);
        if (fd < 0) {
            board_printf("flash: cannot create %s\r\n", path);
            return NULL;
        }
        host_fd = fd;
        mark_dirty(0, FLASH_SIZE);
        board_printf("flash: %s created (erased)\r\n", path);
    }
    if (rf_sync(&rf_dev) < 0)
        return NULL;
    board_printf("flash: %lu blocks of %lu KiB, host-backed\r\n",
                 (unsigned long)LWM_BOARD_FLASH_BLOCKS,
                 (unsigned long)(LWM_BOARD_FLASH_BLOCK_SIZE / 1024u));
    return &rf_dev;
}

void board_flash_stats(struct board_flash_stats *out)
{
    *out = st;
}

void board_flash_shutdown(void)
{
    if (host_fd >= 0) {
        rf_sync(&rf_dev);
        sh_close(host_fd);
        host_fd = -1;
    }
}
