/* lwmail - error names. */
#include "lwmail/lwm_err.h"

const char *lwm_strerror(int err)
{
    switch (err) {
    case LWM_OK: return "ok";
    case LWM_ERR_NOENT: return "no such object";
    case LWM_ERR_IO: return "flash i/o error";
    case LWM_ERR_AGAIN: return "try again";
    case LWM_ERR_NOMEM: return "table full";
    case LWM_ERR_BUSY: return "busy";
    case LWM_ERR_EXIST: return "exists";
    case LWM_ERR_INVAL: return "invalid argument";
    case LWM_ERR_FBIG: return "message too large";
    case LWM_ERR_NOSPC: return "flash full";
    case LWM_ERR_RANGE: return "out of range";
    case LWM_ERR_NAMETOOLONG: return "name too long";
    case LWM_ERR_NOTEMPTY: return "not empty";
    case LWM_ERR_CORRUPT: return "corrupt";
    case LWM_ERR_NOTMOUNTED: return "not mounted";
    default: return err > 0 ? "count" : "unknown error";
    }
}
