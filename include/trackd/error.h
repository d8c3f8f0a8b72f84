/*
 * trackd error codes. Every function that can fail returns 0 (TD_OK) or one
 * of these negative codes; td_strerror() names them for log lines. The list
 * is one X-macro so the enum and the name table cannot drift apart.
 */
#ifndef TRACKD_ERROR_H
#define TRACKD_ERROR_H

#define TD_ERROR_MAP(XX)                                                                           \
    XX(AGAIN, -1, "need more input")                                                               \
    XX(INVAL, -2, "invalid argument")                                                              \
    XX(NOMEM, -3, "out of memory")                                                                 \
    XX(TOOBIG, -4, "frame too large")                                                              \
    XX(BADFRAME, -5, "malformed frame")                                                            \
    XX(CHECKSUM, -6, "bad checksum")                                                               \
    XX(UNSUPPORTED, -7, "unsupported message")                                                     \
    XX(IO, -8, "input/output error")                                                               \
    XX(STORE, -9, "store error")                                                                   \
    XX(NOTFOUND, -10, "not found")                                                                 \
    XX(UNFRAMEABLE, -11, "stream cannot be framed")                                                \
    XX(REJECTED, -12, "device rejected")                                                           \
    XX(EXISTS, -13, "already exists")

enum {
    TD_OK = 0,
#define XX(name, code, text) TD_E##name = (code),
    TD_ERROR_MAP(XX)
#undef XX
};

/* Returns a static, human-readable description of a TD_E* code. */
const char *td_strerror(int code);

#endif
