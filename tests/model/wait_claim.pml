/*
 * wait_claim.pml: a task parked on a wait queue (runtime/waitq.c) against
 * the three parties that may end its wait: a waker handing it a permit
 * (a semaphore release, runtime/sync.c), its deadline (the timer heap,
 * runtime/sleep.c) and a cancel (rt_task_cancel, runtime/task.c).
 *
 * What runs:
 *   W   the task: rt_wait_one() (poll under the lock, arm, link, read
 *       the cancel flag), the step unwinds, rt_wait_commit() (deadline
 *       into the heap, UNWOUND), and once runnable rt_wait_finish()
 *       (deadline out of the heap, waiter unlinked, result read).
 *   R   rt_sem_release(1): under the lock, claim the oldest waiter or
 *       keep the permit; publish (WON) after the lock.
 *   T   the timer heap firing W's deadline (fire_locked).
 *   C   rt_task_cancel(): set the flag, then claim a parked wait.
 *
 * Memory model: sequential consistency; the code pairs each store and
 * load checked here as seq_cst or as an RMW on one word (the state).
 *
 * Properties:
 *   - the task is made runnable exactly once, and only after it
 *     unwound (never runs twice at once);
 *   - the permit is never lost nor given twice: at the end it is in the
 *     semaphore or W took it, and W says it did exactly when it did;
 *   - nobody touches the waiter after finish let go of it;
 *   - NO_TIMER: with no deadline and a releaser that may never come,
 *     the cancel alone ends the wait (no lost cancel).
 *
 * Claims: a claim that finds UNWOUND sets WON in its CAS, and its
 * publish then requeues without the handshake (CLAIMED AFTER THE
 * UNWIND in waitq.c).
 *
 * Variants (-D at spin -a time):
 *   NO_TIMER            no deadline; R may do nothing.
 *   HELD                (with NO_TIMER) the op keeps the lock over the
 *                       unwind; the commit arms the wait already
 *                       unwound, reads the cancel flag, unlocks (LOCK
 *                       HELD OVER THE UNWIND). Sequential consistency
 *                       stands in for the asymmetric fence pair.
 *   BUG_HELD_FLAG_FIRST (with HELD) the commit reads the cancel flag
 *                       before it arms the wait. Must fail: a lost
 *                       cancel.
 *   BUG_OWNED_EARLY     a claim sets WON whether or not the task has
 *                       unwound. Must fail.
 *   BUG_FLAG_BEFORE_ARM the op reads the cancel flag before it arms the
 *                       wait (the Dekker pair broken). With NO_TIMER,
 *                       must fail: a lost cancel.
 *   BUG_NO_HANDSHAKE    a claimer makes the task runnable without the
 *                       WON/UNWOUND handshake. Must fail.
 *   BUG_GIVE_UNCLAIMED  the releaser hands the permit over without
 *                       claiming the wait. Must fail.
 */

#define WAITING		1
#define ARMED		2
#define WON		4
#define UNWOUND		8
/* the arm that won, kept apart from the bits */
#define ARM_NONE	0
#define ARM_WAKER	1
#define ARM_TIMEOUT	2
#define ARM_CANCEL	3

byte state;		/* t->wait.state, bits */
byte arm;		/* t->wait.state >> 16 */
bit cancel_flag;	/* RT_TF_CANCEL */
bit lock;		/* the semaphore's spin lock */
bit heap_lock;
bit linked;		/* the waiter is on the semaphore's list */
bit in_heap;		/* the deadline is in the heap */
bit node_free;		/* finish let go of the waiter */
byte permits;		/* in the semaphore */
byte taken;		/* permits W holds */
byte runnable;		/* times the task was made runnable */
bit unwound_seen;	/* W has unwound (commit ran) */
bit finished;
bit got;		/* W says it acquired the permit */
bit released;		/* R gave its permit back (not NO_TIMER's no-show) */
byte result;		/* 0 acquired, 1 timed out, 2 cancelled, 3 at once */

inline spin_lock(l) { atomic { l == 0 -> l = 1 } }
inline spin_unlock(l) { l = 0 }

/* rt_wait_claim: one CAS clearing ARMED and recording the arm; WON too
 * when the task has unwound */
inline claim(a, ok) {
	atomic {
		if
		:: state & ARMED ->
			state = state & ~ARMED; arm = a; ok = 1;
#ifdef BUG_OWNED_EARLY
			state = state | WON
#else
			if
			:: state & UNWOUND -> state = state | WON
			:: else
			fi
#endif
		:: else -> ok = 0
		fi
	}
}

inline make_runnable() {
	assert(unwound_seen);
	runnable++;
	assert(runnable == 1)
}

/* rt_wait_publish: WON set by the claim, or WON and whoever comes second
 * of WON/UNWOUND runs it */
inline publish() {
#ifdef BUG_NO_HANDSHAKE
	runnable++;
	assert(runnable == 1 && unwound_seen);
#else
	if
	:: state & WON -> make_runnable()
	:: else ->
		atomic {
			if
			:: state & UNWOUND -> state = state | WON; make_runnable()
			:: else -> state = state | WON
			fi
		}
	fi
#endif
}

proctype Waiter()
{
	bit ok, early_flag;

	/* rt_op_check() */
	if
	:: cancel_flag -> result = 2; finished = 1; goto out
	:: else -> skip
	fi;
#ifdef BUG_FLAG_BEFORE_ARM
	early_flag = cancel_flag;
#endif
	spin_lock(lock);
	if
	:: permits > 0 ->	/* ready: no wait at all */
		permits--; taken++; got = 1; result = 3;
		spin_unlock(lock); finished = 1; goto out
	:: else -> skip
	fi;
#ifdef HELD
	/* link, keep the lock; the step unwinds; rt_wait_commit() */
	linked = 1;
	unwound_seen = 1;
#ifdef BUG_HELD_FLAG_FIRST
	early_flag = cancel_flag;
	state = WAITING | ARMED | UNWOUND;
#else
	state = WAITING | ARMED | UNWOUND;
	early_flag = cancel_flag;
#endif
	if
	:: early_flag -> claim(ARM_CANCEL, ok)
	:: else -> ok = 0
	fi;
	spin_unlock(lock);
	if :: ok -> make_runnable() :: else fi;
	goto resumed;
#endif
	state = WAITING | ARMED;	/* wait_arm, seq_cst */
	linked = 1;
	spin_unlock(lock);
	/* rt_wait_suspend: NO LOST CANCEL */
#ifdef BUG_FLAG_BEFORE_ARM
	if
	:: early_flag -> claim(ARM_CANCEL, ok); if :: ok -> publish() :: else fi
	:: else
	fi;
#else
	if
	:: cancel_flag -> claim(ARM_CANCEL, ok); if :: ok -> publish() :: else fi
	:: else
	fi;
#endif
	/* the step unwinds; rt_wait_commit() */
#ifndef NO_TIMER
	spin_lock(heap_lock); in_heap = 1; spin_unlock(heap_lock);
#endif
	atomic {
		unwound_seen = 1;
		if
		:: state & WON -> state = state | UNWOUND; make_runnable()
		:: else -> state = state | UNWOUND
		fi
	}
resumed:
	/* resumes only once runnable */
	runnable > 0;
	/* rt_wait_finish() */
	spin_lock(heap_lock); in_heap = 0; spin_unlock(heap_lock);
	if
	:: arm != ARM_WAKER ->
		spin_lock(lock);
		if :: linked -> linked = 0 :: else fi;
		spin_unlock(lock)
	:: else
	fi;
	assert(!linked);
	if
	:: arm == ARM_WAKER -> got = 1; result = 0
	:: arm == ARM_TIMEOUT -> result = 1
	:: arm == ARM_CANCEL -> result = 2
	fi;
	node_free = 1;
	state = 0;
	finished = 1;
out:
	skip
}

proctype Releaser()
{
	bit ok;

#ifdef NO_TIMER
	if
	:: skip
	:: goto out	/* never comes */
	fi;
#endif
	spin_lock(lock);
	released = 1;
	ok = 0;
	if
	:: linked ->
		assert(!node_free);
		linked = 0;
#ifdef BUG_GIVE_UNCLAIMED
		ok = 1; arm = ARM_WAKER; state = state & ~ARMED;
#else
		claim(ARM_WAKER, ok);
#endif
	:: else
	fi;
	if
	:: ok -> taken++	/* handed over: W owns it */
	:: else -> permits++
	fi;
	spin_unlock(lock);
	if
	:: ok -> publish()
	:: else
	fi;
out:
	skip
}

proctype Timer()
{
	bit ok;

	spin_lock(heap_lock);
	if
	:: in_heap ->
		in_heap = 0;
		if
		:: state & WAITING ->
			claim(ARM_TIMEOUT, ok);
			if :: ok -> publish() :: else fi
		:: else
		fi
	:: else
	fi;
	spin_unlock(heap_lock)
}

proctype Canceller()
{
	bit ok;

	cancel_flag = 1;	/* seq_cst fetch-or */
	if
	:: state & WAITING ->
		claim(ARM_CANCEL, ok);
		if :: ok -> publish() :: else fi
	:: else	/* rt_fence_slow(), and a second look */
		if
		:: state & WAITING ->
			claim(ARM_CANCEL, ok);
			if :: ok -> publish() :: else fi
		:: else
		fi
	fi
}

init {
	permits = 0;
	atomic {
		run Waiter();
		run Releaser();
#ifndef NO_TIMER
		run Timer();
#endif
		run Canceller();
	}
	_nr_pr == 1;
	assert(finished);
	/* the permit: still in the semaphore, or W holds it */
	assert(permits + taken == released);
	assert(got == (taken == 1));
	assert(runnable <= 1)
}
