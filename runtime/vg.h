/* SPDX-License-Identifier: MIT */
/*
 * What the runtime tells valgrind, and asks it. Memcheck does not model
 * io_uring: bytes the kernel writes into memory through a ring look
 * uninitialised to it, and fiber stacks look like wild stack switches.
 * The runtime marks what it knows: a fiber's stack, the filled bytes of
 * a stream's receive buffer (the CQE names the buffer and the count),
 * and the caller's buffer of a read, recv or statx, whole and when the
 * op starts (the CQE does not say where the bytes went; io.c). Natively
 * each request is a few instructions that do nothing; without valgrind's
 * headers (the report's build), nothing.
 */
#ifndef RT_VG_H
#define RT_VG_H

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif

#ifdef RUNNING_ON_VALGRIND
#define RT_UNDER_VALGRIND() RUNNING_ON_VALGRIND
#else
#define RT_UNDER_VALGRIND() 0
#define VALGRIND_STACK_REGISTER(lo, hi) 0u
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#define VALGRIND_MAKE_MEM_DEFINED_IF_ADDRESSABLE(addr, len)		\
	((void)(addr), (void)(len))
#endif

#endif /* RT_VG_H */
