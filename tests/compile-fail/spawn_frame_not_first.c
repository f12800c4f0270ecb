// SPDX-License-Identifier: MIT
/*
 * Must not compile: RT_SPAWN with a frame type whose struct rt_frame is
 * not its first member. With -DFRAME_FIRST (the control) it must.
 */
#include "rtasync.h"

struct frame_type {
#ifdef FRAME_FIRST
	struct rt_frame frame;
	int64_t x;
#else
	int64_t x;
	struct rt_frame frame;
#endif
};

static RT_ASYNC int64_t fn(struct rt_task *t, struct rt_frame *f)
{
	return 0;
}

int spawn_it(struct rt_runtime *rt);

int spawn_it(struct rt_runtime *rt)
{
	return RT_SPAWN(rt, NULL, fn, struct frame_type, .x = 1);
}
