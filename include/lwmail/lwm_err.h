/*
 * lwmail - error codes.
 *
 * One enum for the whole core. 0 is success, errors are negative and
 * errno-like where a matching errno exists, positive values are counts.
 */
#ifndef LWM_ERR_H
#define LWM_ERR_H

enum lwm_err {
    LWM_OK              = 0,
    LWM_ERR_NOENT       = -2,   /* no such user, mailbox or message */
    LWM_ERR_IO          = -5,   /* the flash hook reported a failure */
    LWM_ERR_AGAIN       = -11,  /* try again later (work in progress) */
    LWM_ERR_NOMEM       = -12,  /* a static table is full (LWM_* option) */
    LWM_ERR_BUSY        = -16,  /* object in use (e.g. append slot) */
    LWM_ERR_EXIST       = -17,  /* mailbox or user exists already */
    LWM_ERR_INVAL       = -22,  /* bad argument */
    LWM_ERR_FBIG        = -27,  /* message larger than LWM_MSG_SIZE_MAX */
    LWM_ERR_NOSPC       = -28,  /* flash full: IMAP answers NO [OVERQUOTA] */
    LWM_ERR_RANGE       = -34,  /* offset or index out of range */
    LWM_ERR_NAMETOOLONG = -36,  /* name longer than the option allows */
    LWM_ERR_NOTEMPTY    = -39,  /* mailbox has children / is INBOX */
    LWM_ERR_CORRUPT     = -84,  /* flash content failed a check */
    LWM_ERR_NOTMOUNTED  = -107  /* store not mounted */
};

/** A short, static, human-readable name for an error code. */
const char *lwm_strerror(int err);

#endif /* LWM_ERR_H */
