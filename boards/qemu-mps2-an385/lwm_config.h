/*
 * lwmail options for the QEMU MPS2 AN385 board (see lwm_opts.h for each).
 *
 * Sized for the target device: 4 concurrent TLS sessions and a
 * store of about 2,000 messages, everything static. The board's own
 * settings (flash geometry, stack) are here too, under LWM_BOARD_*.
 */
#ifndef LWM_CONFIG_H
#define LWM_CONFIG_H

/* ---- the emulated NOR flash (boards/qemu-mps2-an385/ramflash.c):
 * 64 KiB erase blocks like a QSPI NOR part's, 8 MiB (holds a 5 MB
 * message), 4-byte programs, byte reads */
#define LWM_BOARD_FLASH_BLOCK_SIZE 65536u
#define LWM_BOARD_FLASH_BLOCKS 128u
#define LWM_BOARD_FLASH_PROG_SIZE 4u
#define LWM_BOARD_FLASH_READ_SIZE 1u
/* Offer the region as a memory-mapped view (zero-copy FETCH: message
 * bytes go from the flash to the TLS layer without a copy). It was off
 * while a zero-copy send that lwIP took only in part of a TLS record made
 * the core's output length underflow; src/tls now reports bytes whose
 * record is encrypted as taken and finishes the record first. */
#ifndef LWM_BOARD_FLASH_MAPPED
#define LWM_BOARD_FLASH_MAPPED 1
#endif

/* ---- store */
#ifndef LWM_STORE_MAX_MSGS
#define LWM_STORE_MAX_MSGS 2048
#endif
#ifndef LWM_STORE_MAX_MBOXES
#define LWM_STORE_MAX_MBOXES 24
#endif
#ifndef LWM_STORE_MAX_USERS
#define LWM_STORE_MAX_USERS 4
#endif
#ifndef LWM_STORE_MAX_BLOCKS
#define LWM_STORE_MAX_BLOCKS 128
#endif
#ifndef LWM_STORE_MAX_APPENDS
#define LWM_STORE_MAX_APPENDS 2
#endif

/* ---- server */
#ifndef LWM_MAX_SESSIONS
#define LWM_MAX_SESSIONS 4
#endif
#ifndef LWM_TLS_SESSIONS
#define LWM_TLS_SESSIONS 4
#endif
#ifndef LWM_TLS_HANDSHAKES
#define LWM_TLS_HANDSHAKES 2
#endif
/* 2 KiB outgoing records: 8 KiB less RAM for 4 sessions; the generated
 * certificate (about 470 bytes) fits one record easily */
#ifndef LWM_TLS_OUT_LEN
#define LWM_TLS_OUT_LEN 2048
#endif
/* Measured under QEMU with this board's mbedTLS (32-bit: the arena's
 * block header is 32 bytes): 1.65 KB idle, 1.85 KB per open session,
 * 15.0 KB peak with 2 sessions open and 2 P-256 handshakes at once (the
 * most this board allows); 20 KiB leaves a third for fragmentation. A
 * handshake that finds no memory fails alone (tests/interop tls_test.py,
 * test_arena_exhausted). The default formula (38 KB) is for 64-bit
 * hosts. */
#ifndef LWM_TLS_ARENA
#define LWM_TLS_ARENA 20480
#endif
/* Each session owns 1 KiB for its commands; a longer one (up to the full
 * 8 KiB RFC 2683 asks for) borrows the one shared long buffer: 4 sessions
 * take 12 KiB instead of 32 */
#ifndef LWM_IMAP_RX_OWN
#define LWM_IMAP_RX_OWN 1024
#endif
#ifndef LWM_IMAP_MIME_SLOTS
#define LWM_IMAP_MIME_SLOTS 1
#endif
#ifndef LWM_IMAP_SEARCH_SLOTS
#define LWM_IMAP_SEARCH_SLOTS 1
#endif
/* pre-auth: every slot may be a fresh connection (4 parallel logins) */
#ifndef LWM_MAX_PREAUTH
#define LWM_MAX_PREAUTH LWM_MAX_SESSIONS
#endif
#ifndef LWM_MAX_PREAUTH_PER_ADDR
#define LWM_MAX_PREAUTH_PER_ADDR LWM_MAX_SESSIONS
#endif

/* the emulator's CPU is slow: smaller PBKDF2 steps keep each step short */
#define LWM_AUTH_PBKDF2_STEP 250

#endif /* LWM_CONFIG_H */
