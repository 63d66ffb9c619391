/* macro.h — compiler attributes, cleanup helpers and small macros shared by every room. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f)         __attribute__((cleanup(f)))
#define _unused_             __attribute__((unused))
#define _noreturn_           __attribute__((noreturn))
#define _printf_(a, b)       __attribute__((format(printf, a, b)))
#define _pure_               __attribute__((pure))
#define _const_              __attribute__((const))
#define _sentinel_           __attribute__((sentinel))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _likely_(x)          __builtin_expect(!!(x), 1)
#define _unlikely_(x)        __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

/* Hand ownership of *p to the caller and leave NULL behind, so a cleanup
 * attribute on the source variable does nothing. */
#define TAKE_PTR(p)                        \
	({                                 \
		__typeof__(p) _ptr_ = (p); \
		(p) = NULL;                \
		_ptr_;                     \
	})
#define TAKE_FD(fd)              \
	({                       \
		int _fd_ = (fd); \
		(fd) = -EBADF;   \
		_fd_;            \
	})

/* Define a cleanup function `name` for pointers to a type whose destructor
 * takes the pointer and accepts NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
	static inline void func##p(type *p)     \
	{                                       \
		if (*p)                         \
			func(*p);               \
	}

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Negative errno of the last failed libc call, never 0 (so callers can
 * always return it as a failure). */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}
