/*
 * spin_watch.pml: a pusher that sees a spinner rings nobody; the last
 * spinner to stop with work in hand rings a sleeper in its place
 * (stop_spinning() in runtime/balance.c).
 *
 * What runs, three workers and two tasks, every task holding the worker
 * that takes it for good (a long step, as in test_runtime_churn):
 *   worker 0   inside a step: pushes task T onto its CPU queue, fences,
 *              and rings a sleeper only if one is parked and nobody
 *              spins (rt__worker_want_helper()); then its step goes on for ever.
 *   worker 1   finds task X on its own queue, or steals T, while it
 *              spins; else parks.
 *   worker 2   the same loop, starting with nothing of its own.
 * Each idle worker's loop: pop its own queue; else spin (nspinning++),
 * look at its own queue and then steal from any queue, nspinning--, and
 * if it found work and was the last spinner while a worker is parked,
 * ring one (the rule under test); else park: parked = 1, nparked++,
 * fence, look at every queue, sleep until rung, unpark.
 *
 * Memory model: sequential consistency, the fenced pairs as one step
 * each side, as park_wake.pml argues for the same fences.
 *
 * Property: the model ends only when both tasks were taken. A task left
 * on a queue while one worker is held and the other sleeps unrung is a
 * state with no move left, which spin reports as an invalid end state.
 *
 * Variant BUG_NO_BATON: the spinner stops without ringing anyone (the
 * code before 0ab6c14). It must fail: three workers held or asleep and a
 * task on a queue, the hang gdb showed.
 */

#define NW	3
#define TT	1	/* task T, pushed by worker 0 */
#define TX	2	/* task X, on worker 1's queue from the start */
#define ALL	3

byte q[NW];
bit parked[NW];
bit pending[NW];	/* wake_pending: a ring is on its way */
bit rung[NW];		/* the ring arrived (a CQE in the ring) */
byte nparked;
byte nspinning;
byte taken;

#define LOWBIT(m)	((m) & 1 -> 1 : ((m) & 2 -> 2 : 0))

inline take(t)
{
	assert((taken & t) == 0);
	taken = taken | t
}

/* rt_wake_one(): ring a parked worker nobody rang yet, other than w. */
inline wake_one(w)
{
	atomic {
		if
		:: w != 0 && parked[0] && !pending[0] -> pending[0] = 1; rung[0] = 1
		:: w != 1 && parked[1] && !pending[1] -> pending[1] = 1; rung[1] = 1
		:: w != 2 && parked[2] && !pending[2] -> pending[2] = 1; rung[2] = 1
		:: else -> skip
		fi
	}
}

proctype pusher()
{
	/* push, fence, then rt__worker_want_helper()'s loads: one step */
	q[0] = q[0] | TT;
	if
	:: atomic { nparked > 0 && nspinning == 0 } -> wake_one(0)
	:: else -> skip
	fi
	/* the step holds worker 0 from here on */
}

proctype worker(byte w)
{
	byte t;
	bit found, last;

loop:
	atomic {
		t = LOWBIT(q[w]);
		q[w] = q[w] & ~t;
		if
		:: t != 0 -> take(t); goto held
		:: else -> skip
		fi;
		nspinning++
	};
	/* rt_worker_idle_poll(): own queue, then any queue (one step each) */
	atomic {
		t = LOWBIT(q[w]);
		if
		:: t == 0 -> t = LOWBIT(q[0]); q[0] = q[0] & ~t
		:: else -> q[w] = q[w] & ~t
		fi
	};
	if
	:: t == 0 ->
		atomic {
			t = LOWBIT(q[1]); q[1] = q[1] & ~t;
			if
			:: t == 0 -> t = LOWBIT(q[2]); q[2] = q[2] & ~t
			:: else -> skip
			fi
		}
	:: else -> skip
	fi;
	found = (t != 0);
	/* stop_spinning(): the RMW and the load of nparked, seq_cst */
	atomic {
		nspinning--;
		last = (nspinning == 0)
	};
#ifndef BUG_NO_BATON
	if
	:: found && last && nparked > 0 -> wake_one(w)
	:: else -> skip
	fi;
#endif
	if
	:: found -> take(t); goto held
	:: else -> skip
	fi;
	/* rt_worker_park(): say it, fence, look everywhere, sleep */
	atomic { pending[w] = 0; parked[w] = 1; nparked++ };
	if
	:: atomic { q[0] != 0 || q[1] != 0 || q[2] != 0 } -> skip
	:: else ->
		if
		:: rung[w] -> skip
		:: taken == ALL -> skip	/* lets the model end; no wake-up */
		fi
	fi;
	atomic { parked[w] = 0; nparked--; pending[w] = 0; rung[w] = 0 };
	goto loop;
held:
	skip
}

init {
	atomic {
		q[1] = TX;
		run pusher();
		run worker(1);
		run worker(2)
	}
}
