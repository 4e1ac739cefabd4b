/* lwmail - error names. */
#include "lwmail/lwm_err.h"
#include "util/lwm_util.h"

/* The codes and, in the same order, their names back to back (one table
 * of bytes instead of a switch with a pointer per case) */
static const signed char err_codes[] = {
    LWM_OK, LWM_ERR_NOENT, LWM_ERR_IO, LWM_ERR_AGAIN, LWM_ERR_NOMEM,
    LWM_ERR_BUSY, LWM_ERR_EXIST, LWM_ERR_INVAL, LWM_ERR_FBIG, LWM_ERR_NOSPC,
    LWM_ERR_RANGE, LWM_ERR_NAMETOOLONG, LWM_ERR_NOTEMPTY, LWM_ERR_CORRUPT,
    LWM_ERR_NOTMOUNTED
};
static const char err_names[] =
    "ok\0no such object\0flash i/o error\0try again\0table full\0busy\0"
    "exists\0invalid argument\0message too large\0flash full\0"
    "out of range\0name too long\0not empty\0corrupt\0not mounted";

const char *lwm_strerror(int err)
{
    size_t i;
    for (i = 0; i < sizeof err_codes; i++)
        if (err_codes[i] == err)
            return lwm_str_at(err_names, i);
    return err > 0 ? "count" : "unknown error";
}
