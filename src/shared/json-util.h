/* json-util.h — jansson glue shared by the rooms that read or write JSON:
 * a cleanup attribute for json_t and typed getters that never crash on a
 * document of the wrong shape. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* json_decrefp() is jansson's own (2.9+). */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))

/* The string member `key` of `o`, or NULL if `o` is not an object or the
 * member is missing or not a string. */
static inline const char *json_get_string(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A numeric member as a double (integers and reals); `def` if missing or not
 * a number. */
static inline double json_get_number(const json_t *o, const char *key, double def)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : def;
}

/* A non-negative integer member; `def` if missing, negative or not a number.
 * Reals are truncated. */
static inline uint64_t json_get_u64(const json_t *o, const char *key, uint64_t def)
{
	const json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return json_integer_value(v) >= 0 ? (uint64_t)json_integer_value(v) : def;
	if (json_is_real(v)) {
		double d = json_real_value(v);
		return d >= 0 && d < 1.8e19 ? (uint64_t)d : def;
	}
	return def;
}

static inline int64_t json_get_i64(const json_t *o, const char *key, int64_t def)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

static inline bool json_get_bool(const json_t *o, const char *key, bool def)
{
	const json_t *v = json_object_get(o, key);
	return json_is_boolean(v) ? json_is_true(v) : def;
}
