/*
 * park_wake.pml: NO LOST WAKE-UP (runtime/park.c) as a Promela model.
 *
 * What runs:
 *   worker 0   starts inside a task step that spawns task A onto its CPU
 *              queue (rt_worker_push_local with rt__running set, so
 *              rt__worker_want_helper() may ring a sleeper), then runs its loop.
 *   worker 1   runs its loop from the start.
 *   foreign    rt_task_make_runnable(NULL, ...) of tasks B then C: pick
 *              an inbox (foreign_target()), push, fence, rt_worker_wake().
 * A worker's loop (worker.c, balance.c, park.c) is: take its inbox onto
 * its queue, reap its ring if a CQE is there, pop one task from its
 * queue, else poll once (own work, then steal one task from any queue),
 * else park: arm the doorbell, parked = 1, nparked++, fence, look at its
 * inbox and every CPU queue, sleep until a CQE (or a time slice when the
 * doorbell is not armed), parked = 0, nparked--, wake_pending = 0, reap.
 *
 * The ring is abstracted to what a sleeper can wait for: a MSG_RING CQE
 * (cqm), the CQE of the armed eventfd read (cqe), the read itself (rd:
 * in the ring, not completed) and the eventfd counter (efd). A MSG_RING
 * may fail or find no SQE; the waker then rings the eventfd, as
 * wake_failed() does (its failure CQE completes inline and the sender
 * reaps it at once). Arming may find no SQE: the worker then parks in
 * time slices.
 *
 * Memory model: sequential consistency. Each Dekker pair here (push,
 * fence, load nparked/parked; store parked, nparked++, fence, load the
 * queues) has a full fence on both sides: a seq_cst fence, or a
 * compiler barrier on the producer paired with membarrier() on the
 * consumer, which puts a full barrier on every CPU running one of our
 * threads between the consumer's store and its loads. With a full fence
 * between each side's store and its load, no execution lets both loads
 * miss the other side's store, which is the one outcome by which the C11
 * model differs from SC for such a pair. The inbox exchange is an RMW on
 * one location, ordered as SC has it. One step of the model is SC only
 * if the code makes it so: a waker's wake_pending exchange comes after
 * the parker's clear of it when the waker's load of parked saw a later
 * store of the parker; under C11 that needs the load to synchronize with
 * that store (acquire/release, free on x86), which the code does not ask
 * for today. The runq's internals (rseq, the steal fence) are not
 * modelled: a push, pop or steal of one task is one step.
 *
 * Properties:
 *   - every task is taken exactly once (assertion in take());
 *   - no lost wake-up: the model ends only when every task was taken;
 *     a worker stuck in its untimed sleep while a task waits where no
 *     running thread will look is a state with no move left, which spin
 *     reports as an invalid end state.
 *
 * Variants (-D at spin -a time):
 *   (none)          the protocol as the code has it (135cb45). Fails: a
 *                   waker that loaded parked before the target unparked
 *                   sets wake_pending after the target cleared it; the
 *                   target reaps the wake-up and parks again with the
 *                   flag set, and every later waker skips it.
 *   CLEAR_AT_PARK   wake_pending is cleared on entry to park, before
 *                   parked is set (the proposed fix, see
 *                   Documentation/model-checking.md).
 *   BUG_NO_RECHECK  park sleeps without looking for work after the fence.
 *   BUG_NO_FALLBACK a failed MSG_RING leaves wake_pending set and rings
 *                   nothing (the bug issue 6 reports).
 * The bug variants must fail: a check that cannot fail proves nothing.
 */

#define NW	2
#define NT	3
#define ALL	7	/* tasks A, B, C as bits */
#define TA	1
#define TB	2
#define TC	4
#define NONE	255	/* no worker: the foreign thread, or no home */

byte q[NW];		/* CPU queue of worker i's CPU, a set of tasks */
byte inbox[NW];
bit parked[NW];
bit wp[NW];		/* wake_pending */
bit cqm[NW];		/* a MSG_RING CQE waits in ring i */
bit cqe[NW];		/* the eventfd read's CQE waits in ring i */
bit rd[NW];		/* an eventfd read is armed in ring i (kernel side) */
bit efd[NW];		/* eventfd counter is non-zero */
bit armed[NW];		/* doorbell_armed, the worker's own view */
byte nparked;
byte nspinning;
byte taken;		/* tasks run so far */
/*
 * Failures are chosen by the model, at most one per run and of one kind
 * per verification: FAULT_MSG_RING (a MSG_RING refused or without an
 * SQE, so the eventfd carries the wake-up) or FAULT_NO_SQE (no SQE to
 * arm the doorbell: the worker parks in time slices). One failure at any
 * point reaches the fallback path from every state; more of them, or
 * both kinds in one run, multiply the states without reaching new code.
 */
#ifdef FAULT_MSG_RING
#define MSG_RING_MAY_FAIL	(faults == 0)
#else
#define MSG_RING_MAY_FAIL	false
#endif
#ifdef FAULT_NO_SQE
#define SQE_MAY_FAIL		(faults == 0)
#else
#define SQE_MAY_FAIL		false
#endif
bit faults;

/* The oldest-first order does not matter here: take the lowest bit. */
#define LOWBIT(m)	((m) & 1 -> 1 : ((m) & 2 -> 2 : ((m) & 4 -> 4 : 0)))
#define ONES(m)		(((m) & 1) + (((m) >> 1) & 1) + (((m) >> 2) & 1))

inline take(t)
{
	assert((taken & t) == 0);	/* exactly once */
	taken = taken | t
}

/* eventfd_write(): completes an armed read, else counts. */
inline ring_doorbell(o)
{
	atomic {
		if
		:: rd[o] -> rd[o] = 0; cqe[o] = 1
		:: else -> efd[o] = 1
		fi
	}
}

inline send_msg_ring(o)
{
	if
	:: cqm[o] = 1			/* delivered */
	:: MSG_RING_MAY_FAIL ->		/* refused, or no SQE */
		faults = 1;
#ifdef BUG_NO_FALLBACK
		skip
#else
		ring_doorbell(o)
#endif
	fi
}

/*
 * rt_worker_wake(from, o) after rt_worker_asleep(o) said yes (wake_one)
 * or without that (a foreign push): the load of parked, then the
 * exchange, as two steps: the window between them is where a stale
 * parked meets a fresh wake_pending.
 */
inline wake(from, o, old)
{
	if
	:: parked[o] ->
		atomic { old = wp[o]; wp[o] = 1 };
		if
		:: old -> skip
		:: else ->
			if
			:: from != NONE -> send_msg_ring(o)
			:: else -> ring_doorbell(o)
			fi
		fi
	:: else -> skip
	fi
}

/* rt_worker_asleep(): parked and nobody rang it yet. */
#define ASLEEP(o)	(parked[o] && !wp[o])

/*
 * rt_worker_push_local(): push, fence, then the loads of rt__worker_want_helper()
 * and rt_wake_one(). The loads after the fence are one step: a store
 * landing between two of them is ordered after the push by the fence,
 * so the parker's re-check after its own fence sees the push anyway.
 */
inline push_local(w, t, running, old)
{
	q[w] = q[w] | t;
	if
	:: atomic { nparked > 0 && nspinning == 0 &&
		    (running || ONES(q[w]) > 1) && ASLEEP(1 - w) } ->
		wake(w, 1 - w, old)
	:: else -> skip
	fi
}

/* rt_worker_arm_doorbell(): may find no SQE. */
inline arm(w)
{
	if
	:: armed[w] -> skip
	:: else ->
		if
		:: if
		   :: efd[w] -> efd[w] = 0; cqe[w] = 1
		   :: else -> rd[w] = 1
		   fi;
		   armed[w] = 1
		:: SQE_MAY_FAIL ->		/* no SQE: slices */
			faults = 1
		fi
	fi
}

/*
 * rt_worker_reap(): take every CQE, then re-arm, as one step: a doorbell
 * rung in between is counted by the eventfd and completes the new read
 * at once, as a doorbell rung just after the re-arm would.
 */
inline reap(w)
{
	atomic {
		if
		:: cqe[w] -> armed[w] = 0
		:: else -> skip
		fi;
		cqe[w] = 0;
		cqm[w] = 0;
		arm(w)
	}
}

#define HAS_WORK(w)	(inbox[w] != 0 || q[0] != 0 || q[1] != 0)

proctype worker(byte w)
{
	byte t, m, old;
	bit found;

	if
	:: w == 0 -> push_local(0, TA, 1, old)	/* a spawn inside a step */
	:: else -> skip
	fi;
loop:
	/* take_inbox(): one exchange, then a push_local each */
	atomic {
		if
		:: taken == ALL -> goto out
		:: else -> skip
		fi;
		m = inbox[w];
		inbox[w] = 0
	};
	do
	:: m != 0 -> t = LOWBIT(m); m = m & ~t; push_local(w, t, 0, old)
	:: else -> break
	od;
	if
	:: atomic { cqe[w] || cqm[w] } -> reap(w)
	:: else -> skip
	fi;
	/*
	 * run_batch(): one task is enough to tell the story. Then
	 * rt_worker_idle_poll(): own work, else steal one task; peers only
	 * read nspinning, to ring nobody while it is up.
	 */
	atomic {
		t = LOWBIT(q[w]);
		q[w] = q[w] & ~t;
		if
		:: t != 0 -> take(t); goto loop
		:: else -> skip
		fi;
		nspinning++;
		found = (inbox[w] != 0 || q[w] != 0)
	};
	if
	:: !found ->
		atomic {
			t = LOWBIT(q[1 - w]);
			q[1 - w] = q[1 - w] & ~t;
			if
			:: t == 0 -> nspinning--
			:: else -> skip
			fi
		};
		if
		:: t != 0 ->
			found = 1;
			push_local(w, t, 0, old);
			nspinning--
		:: else -> skip
		fi
	:: else -> nspinning--
	fi;
	if
	:: found -> goto loop
	:: else -> skip
	fi;
	/*
	 * rt_worker_park(). The stores before the fence are one step, as
	 * are the loads after it: a peer that looks between two stores
	 * sees less than after both and rings nobody, and a push between
	 * two loads is followed by its pusher's look at parked/nparked,
	 * which then sees both stores.
	 */
	atomic {
		arm(w);
#ifdef CLEAR_AT_PARK
		wp[w] = 0;
#endif
		parked[w] = 1;
		nparked++
	};
	/* rt_fence_slow(); then rt_worker_has_work() */
#ifdef BUG_NO_RECHECK
	found = 0;
#else
	found = HAS_WORK(w);
#endif
	/*
	 * io_uring_submit_and_wait_timeout(): a CQE, or the time slice of
	 * an unarmed park; then unpark. The last guard only lets the model
	 * end once everything ran; it is no wake-up.
	 */
	if
	:: found -> skip
	:: else ->
		if
		:: cqe[w] || cqm[w] -> skip
		:: !armed[w] -> skip
		:: taken == ALL -> skip
		fi
	fi;
	atomic { parked[w] = 0; nparked--; wp[w] = 0 };
	reap(w);
	goto loop;
out:
	skip
}

/*
 * foreign_target(): home if asleep, else any sleeper, else home or round
 * robin; one step (a snapshot of the loads, which only choose an inbox).
 * A new task has no home; one that ran before has any.
 */
inline foreign_target(t, target, home)
{
	if
	:: home = NONE
	:: t != TB -> home = 0
	:: t != TB -> home = 1
	fi;
	atomic {
		if
		:: home != NONE && ASLEEP(home) -> target = home
		:: else ->
			if
			:: ASLEEP(0) -> target = 0
			:: !ASLEEP(0) && ASLEEP(1) -> target = 1
			:: !ASLEEP(0) && !ASLEEP(1) && home != NONE ->
				target = home
			:: !ASLEEP(0) && !ASLEEP(1) && home == NONE ->
				if
				:: target = 0
				:: target = 1
				fi
			fi
		fi
	}
}

/* rt_task_make_runnable(NULL, t): inbox push, fence, wake. */
inline foreign_push(t, target, home, old)
{
	foreign_target(t, target, home);
	inbox[target] = inbox[target] | t;
	wake(NONE, target, old)
}

proctype foreign()
{
	byte target, home, old;

	foreign_push(TB, target, home, old);
	foreign_push(TC, target, home, old)
}

init
{
	atomic {
		/* workers arm their doorbell at start (worker_setup) */
		armed[0] = 1; rd[0] = 1;
		armed[1] = 1; rd[1] = 1;
		run worker(0);
		run worker(1);
		run foreign()
	}
}
