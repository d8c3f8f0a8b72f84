/*
 * The API route table. Patterns are written as in the OpenAPI document
 * (`/api/devices/{id}`), and a unit test checks that both list the same
 * operations.
 */
#ifndef TRACKD_ROUTES_H
#define TRACKD_ROUTES_H

#include <stddef.h>

typedef struct td_route td_route;

/* Who may call a route. */
enum td_access { ACCESS_ANYONE, ACCESS_USER, ACCESS_ADMIN };

const td_route *td_route_at(size_t i);           /* NULL past the end */
const char *td_route_method(const td_route *rt); /* "get", "post", ... */
const char *td_route_pattern(const td_route *rt);

/* The OpenAPI document served at /api/openapi.json (NUL-terminated). */
extern const unsigned char td_openapi_json[];
extern const unsigned long td_openapi_json_len;

#endif
