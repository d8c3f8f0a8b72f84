/* Names for the TD_E* codes of trackd/error.h. */
#include "trackd/error.h"

const char *td_strerror(int code)
{
    switch (code) {
    case TD_OK:
        return "success";
#define XX(name, num, text)                                                                        \
    case TD_E##name:                                                                               \
        return text;
        TD_ERROR_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}
