/*
 * baton4.pml: spin_watch.pml with four workers and two pushes, and the
 * rule it led to: a worker back from a park counts as spinning until it
 * has found work (rt_worker_start_spinning(), runtime/balance.c).
 *
 * What runs, four workers and three tasks, every task holding the worker
 * that takes it for good (a long step, as in test_runtime_churn):
 *   worker 0   inside a step: pushes tasks T and Z onto its CPU queue,
 *              each push followed by a fence and a ring of a sleeper
 *              only if one is parked and nobody spins
 *              (rt__worker_want_helper()); then its step goes on for ever.
 *   worker 1   finds task X on its own queue, or takes another.
 *   workers 2, 3   the same loop, starting with nothing of their own.
 *              Worker 2 runs on worker 0's CPU: its own queue is the one
 *              worker 0 pushes to (workers are not pinned when there are
 *              more of them than CPUs, and CPU queues belong to CPUs).
 * Each idle worker's loop: pop its own CPU's queue (run_batch()); else
 * spin (nspinning++), look at its own queue and then steal from any
 * queue, nspinning--, and if it found work and was the last spinner
 * while a worker is parked, ring one (rt_worker_stop_spinning()); else
 * park: parked = 1, nparked++, fence, look at every queue; sleep until
 * rung if all are empty; then, counted spinning (nspinning++), unpark
 * and go round the loop again, where the work it finds first, on its
 * own queue too, stops its spin with the same baton.
 *
 * Memory model: sequential consistency, the fenced pairs as one step
 * each side, as park_wake.pml argues for the same fences.
 *
 * Property: the model ends only when all three tasks were taken. A task
 * left on a queue while the other workers are held or asleep unrung is a
 * state with no move left, which spin reports as an invalid end state.
 *
 * Variant BUG_NO_WOKEN_SPIN: a worker back from a park is not counted
 * spinning (the code before this model). It must fail; spin finds two
 * traces, both ending with Z on worker 0's queue, workers 0, 2 and 3
 * held and worker 1 asleep, never rung:
 *   - A ring absorbed: worker 1 looked before the pushes and sleeps;
 *     worker 2 is parking and its look finds T, so it will not sleep;
 *     worker 0's second push rings worker 2, still marked parked, rather
 *     than worker 1 (rt_wake_one() takes the first sleeper from the
 *     pusher's index on); worker 2 takes T off its CPU's queue.
 *   - A baton passed once: workers 1 and 2 sleep; both pushes see worker
 *     3 spinning and ring nobody; worker 3 steals, stops spinning as the
 *     last spinner and rings worker 2, which takes T off its CPU's queue
 *     at the top of its loop, where nothing passes the baton on.
 * With pinned workers the second trace needs worker 2 to steal, and a
 * steal in the spin passes the baton; the first needs the ring to reach
 * a parking worker. Both need three idle workers and work that holds
 * them, and stranded work waited until a held worker was free. Ringing
 * another sleeper from a park whose look found work, instead of the
 * rule, is not enough: spin still finds the second trace.
 */

#define NW	4
#define TT	1	/* task T, pushed by worker 0 */
#define TZ	2	/* task Z, pushed by worker 0 */
#define TX	4	/* task X, on worker 1's queue from the start */
#define ALL	7

byte q[NW];
bit parked[NW];
bit pending[NW];	/* wake_pending: a ring is on its way */
bit rung[NW];		/* the ring arrived (a CQE in the ring) */
byte nparked;
byte nspinning;
byte taken;

#define LOWBIT(m)	((m) & 1 -> 1 : ((m) & 2 -> 2 : ((m) & 4 -> 4 : 0)))
#define ANY_QUEUED	(q[0] != 0 || q[1] != 0 || q[2] != 0 || q[3] != 0)
#define OWN(w)		(w == 2 -> 0 : w)	/* the queue of w's CPU */

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
		:: w != 3 && parked[3] && !pending[3] -> pending[3] = 1; rung[3] = 1
		:: else -> skip
		fi
	}
}

/* push, fence, then rt__worker_want_helper()'s loads: one step */
inline push(t)
{
	q[0] = q[0] | t;
	if
	:: atomic { nparked > 0 && nspinning == 0 } -> wake_one(0)
	:: else -> skip
	fi
}

proctype pusher()
{
	push(TT);
	push(TZ)
	/* the step holds worker 0 from here on */
}

/* Take the lowest task of any queue into t (0: none), one step. */
inline steal_any(t)
{
	atomic {
		t = LOWBIT(q[0]); q[0] = q[0] & ~t;
		if
		:: t == 0 -> t = LOWBIT(q[1]); q[1] = q[1] & ~t
		:: else -> skip
		fi;
		if
		:: t == 0 -> t = LOWBIT(q[2]); q[2] = q[2] & ~t
		:: else -> skip
		fi;
		if
		:: t == 0 -> t = LOWBIT(q[3]); q[3] = q[3] & ~t
		:: else -> skip
		fi
	}
}

proctype worker(byte w)
{
	byte t;
	bit found, last;
	bit woke;	/* back from a park, counted spinning */

loop:
	atomic {
		t = LOWBIT(q[OWN(w)]);
		q[OWN(w)] = q[OWN(w)] & ~t;
		if
		:: t != 0 && !woke -> take(t); goto held
		:: else -> skip
		fi;
		if
		:: !woke -> nspinning++
		:: else -> skip
		fi;
		woke = 0
	};
	if
	:: t != 0 -> goto stop	/* a woken worker's own work: the baton */
	:: else -> skip
	fi;
	/* rt_worker_idle_poll(): own queue, then any queue */
	atomic {
		t = LOWBIT(q[OWN(w)]);
		q[OWN(w)] = q[OWN(w)] & ~t
	};
	if
	:: t == 0 -> steal_any(t)
	:: else -> skip
	fi;
stop:
	found = (t != 0);
	/* stop_spinning(): the RMW and the load of nparked, seq_cst */
	atomic {
		nspinning--;
		last = (nspinning == 0)
	};
	if
	:: found && last && nparked > 0 -> wake_one(w)
	:: else -> skip
	fi;
	if
	:: found -> take(t); goto held
	:: else -> skip
	fi;
	/* rt_worker_park(): say it, fence, look everywhere, sleep */
	atomic { pending[w] = 0; parked[w] = 1; nparked++ };
	if
	:: atomic { ANY_QUEUED } -> skip
	:: else ->
		if
		:: rung[w] -> skip
		:: taken == ALL -> skip	/* lets the model end; no wake-up */
		fi
	fi;
#ifndef BUG_NO_WOKEN_SPIN
	atomic { nspinning++; woke = 1;
		 parked[w] = 0; nparked--; pending[w] = 0; rung[w] = 0 };
#else
	atomic { parked[w] = 0; nparked--; pending[w] = 0; rung[w] = 0 };
#endif
	goto loop;
held:
	skip
}

init {
	atomic {
		q[1] = TX;
		run pusher();
		run worker(1);
		run worker(2);
		run worker(3)
	}
}
