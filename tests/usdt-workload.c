// SPDX-License-Identifier: MIT
/*
 * A program whose workers park a known way, for test_usdt: prints the
 * runtime's own park/unpark counts after shutdown, to compare with what
 * a tracer attached to the USDT probes counted.
 */
#include <stdio.h>

#include "rtasync.h"

struct nap_frame {
	struct rt_frame frame;
};

static RT_ASYNC int64_t nap(struct rt_task *t, struct rt_frame *base)
{
	RT_BEGIN(t, base);
	RT_SLEEP(2000000);
	return 0;
}

int main(void)
{
	struct rt_runtime *rt;
	struct rt_config cfg;
	struct rt_stats st;

	rt_config_init(&cfg);
	cfg.workers = 1;
	if (rt_runtime_new(&cfg, &rt))
		return 1;
	for (int i = 0; i < 5; i++) {
		struct rt_task *h;

		if (RT_SPAWN(rt, &h, nap, struct nap_frame) ||
		    rt_task_join(h, NULL))
			return 1;
		rt_task_release(h);
	}
	rt_runtime_shutdown(rt);
	rt_runtime_stats(rt, &st);
	printf("parks=%lu\n", (unsigned long)st.parks);
	rt_runtime_free(rt);
	return 0;
}
