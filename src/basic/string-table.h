/* string-table.h — names for enum values: a table indexed by the value,
 * and the two lookups every enum with names needs. */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <strings.h>

#include "macro.h"
#include "strutil.h"

/* The name of value `i`, or NULL when it is out of range or unnamed. */
static inline const char *string_table_lookup_to_string(const char *const *table, size_t n,
                                                        size_t i)
{
	return i < n ? table[i] : NULL;
}

/* The value named `s`, or -EINVAL (also for NULL). */
static inline int string_table_lookup_from_string(const char *const *table, size_t n, const char *s)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (table[i] && streq(table[i], s))
			return (int)i;
	return -EINVAL;
}

/* With `static const char *const name##_table[]` in scope, defines
 * name##_to_string(type) and name##_from_string(const char *). */
#define DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type)                                     \
	const char *name##_to_string(type i)                                                 \
	{                                                                                    \
		return string_table_lookup_to_string(name##_table, ELEMENTSOF(name##_table), \
		                                     (size_t)i);                             \
	}
#define DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name)                                               \
	int name##_from_string(const char *s)                                                      \
	{                                                                                          \
		return string_table_lookup_from_string(name##_table, ELEMENTSOF(name##_table), s); \
	}
#define DEFINE_STRING_TABLE_LOOKUP(name, type)           \
	DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type) \
	DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name)
