/*
 * Small, allocation-free helpers for text protocols: field splitting over
 * (pointer, length) spans, strict number parsing, UTC time building, and
 * hex conversion. Every parser rejects trailing garbage so a decoder can say
 * exactly which field was bad.
 */
#ifndef TRACKD_TEXT_H
#define TRACKD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct td_span {
    const char *p;
    size_t n;
} td_span;

/* Splits s on `sep` into at most `max` spans (the last span keeps the rest).
 * Returns the number of spans (>= 1 for any input). */
int td_split(td_span s, char sep, td_span *out, int max);

/* Removes leading and trailing spaces/tabs/CR/LF. */
td_span td_trim(td_span s);
/* Inline, so the length of a literal is known at compile time. */
static inline bool td_span_eq(td_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}
static inline bool td_span_starts(td_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n >= n && memcmp(s.p, lit, n) == 0;
}
/* Copies s into buf as a C string (truncating to cap - 1). */
char *td_span_cstr(td_span s, char *buf, size_t cap);
/* The same for an error message: bytes other than printable ASCII become
 * '?'. Returns buf. */
const char *td_span_show(td_span s, char *buf, size_t cap);
/* True when s is one or more decimal digits and nothing else. */
bool td_span_digits(td_span s);
/* True when s is one or more hex digits and nothing else. */
bool td_span_hex(td_span s);

/* Strict parsers: the whole span must be a number (td_parse_int and
 * td_parse_double allow a leading '+'/'-'; td_parse_hex takes digits only).
 * Return false on empty input, garbage or overflow. */
bool td_parse_int(td_span s, int64_t *out);
bool td_parse_hex(td_span s, int64_t *out);
bool td_parse_double(td_span s, double *out);
/* Parses exactly `digits` decimal digits at p (no sign); false when one is
 * not a digit or the value does not fit an int. */
bool td_parse_fixed(const char *p, int digits, int *out);

/* UTC calendar time to milliseconds since the epoch; false when a field is
 * out of range. year is the full year (2-digit years: add 2000 first). */
bool td_utc_ms(int year, int mon, int day, int hour, int min, int sec, int64_t *out);
/* Parse "ddMMyy" / "yyMMdd" and "HHmmss" (6 digits each) as UTC. */
bool td_parse_ddmmyy_hhmmss(td_span date, td_span time, int64_t *out);
bool td_parse_yymmdd_hhmmss(td_span date, td_span time, int64_t *out);
/* The wall clock, milliseconds since the epoch. */
int64_t td_now_ms(void);
/* Breaks ms since the epoch down to UTC fields. */
void td_utc_fields(int64_t ms, int *year, int *mon, int *day, int *hour, int *min, int *sec);
/* Formats ms as ISO 8601 UTC with 'Z' ("2009-03-29T22:32:52Z"; milliseconds
 * are added only when non-zero). buf needs 32 bytes. */
char *td_iso8601(int64_t ms, char *buf, size_t cap);
/* Parses the same format (and "YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm]"). */
bool td_parse_iso8601(const char *s, int64_t *out);

/* Degrees-and-minutes "ddmm.mmmm" (lat) / "dddmm.mmmm" (lon) to degrees. */
bool td_parse_dm(td_span s, int deg_digits, double *out);

/* Hex helpers. td_hex_decode ignores spaces; returns bytes written or -1. */
long td_hex_decode(const char *hex, size_t len, uint8_t *out, size_t cap);
/* Writes lower-case hex of data (NUL-terminated; truncated to fit). */
size_t td_hex_encode(const uint8_t *data, size_t len, char *out, size_t cap);

#endif
