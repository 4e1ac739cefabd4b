/*
 * lwmail store - internal definitions shared by the store's source files.
 * The numbers here are the on-flash format: docs/FORMAT.md is the contract
 * and every value below is quoted there.
 */
#ifndef LWM_STORE_INT_H
#define LWM_STORE_INT_H

#include "lwmail/lwm_store.h"
#include "../util/lwm_util.h"

/* Block header, part A ("erase record"), written right after an erase. */
#define BLK_MAGIC        0x424D574Cu  /* "LWMB" little-endian */
#define BLK_A_BYTES      16u
/* Block header, part B ("allocation record"), written when allocated. */
#define BLK_B_FIXED      20u  /* type..cont, crc; then skip pointers */
/* Block header, part F: offset of the first body header in a block that
 * begins with the tail of a longer body; written when that body ends. */
#define BLK_F_BYTES      8u
#define BLK_SKIP         16u          /* max skip pointers per block */
#define BLK_TYPE_META    0x01u
#define BLK_TYPE_DATA    0x02u

/* RAM block states (not on flash). */
#define LWM_BLK_DIRTY    0u  /* must be erased before use (or unknown) */
#define LWM_BLK_FREE     1u  /* erased, part A written, unallocated */
#define LWM_BLK_META     2u
#define LWM_BLK_DATA     3u
/* RAM block flags */
#define LWM_BLKF_VERIFY  0x01u /* FREE per mount: check erased before use */
#define LWM_BLKF_NOGC    0x02u /* accounting mismatch seen: leave alone */

/* Body record: H unit then C unit, then the bytes. */
#define BODY_TYPE        0x42u  /* 'B' */
#define BODY_VERSION     1u
#define BODY_H_BYTES     16u
#define BODY_C_BYTES     28u

/* Journal records. */
#define REC_HDR          4u     /* type, flags, len16 */
#define REC_CRC          4u
#define REC_PAYLOAD_MAX  216u
#define REC_F_CONT       0x01u  /* another record of this group follows */

#define REC_USER         0x01u
#define REC_MBOX         0x02u
#define REC_MBOX_DEL     0x03u
#define REC_KEYWORD      0x04u
#define REC_MSGS         0x05u
#define REC_FLAGS        0x06u
#define REC_EXPUNGE      0x07u
#define REC_SNAP_BEGIN   0x08u
#define REC_SNAP_END     0x09u
#define REC_STATE        0x0Au
#define REC_RESET        0x0Bu

#define MSGS_PER_REC     ((REC_PAYLOAD_MAX - 6u) / 16u)   /* 13 */
#define FLAGS_PER_REC    ((REC_PAYLOAD_MAX - 6u) / 12u)   /* 17 */
#define UIDS_PER_REC     ((REC_PAYLOAD_MAX - 10u) / 4u)   /* 51 */

#endif /* LWM_STORE_INT_H */
