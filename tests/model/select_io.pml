/*
 * select_io.pml: a select with an I/O arm (runtime/io.c) and a wait
 * queue arm (runtime/waitq.c), against every party that may end it: the
 * kernel completing the I/O op, a waker on the queue, the deadline, a
 * cancel, and the ring's owner that reaps the op's CQE and, when kicked,
 * sends the ASYNC_CANCEL.
 *
 * What runs:
 *   W   the task: rt_wait_arms() (wait_arm, start the I/O arm: count it
 *       in flight, link the queue arm, read the cancel flag), the step
 *       unwinds, rt_wait_commit() (deadline into the heap, UNWOUND), and
 *       once runnable rt_wait_finish() (its buffer is its own again).
 *   K   the kernel: once the SQE is submitted (the end of the owner's
 *       turn, after the step), completes the recv with the bytes if they
 *       came, or with -ECANCELED if an ASYNC_CANCEL came first; posts
 *       the CQE.
 *   O   the ring's owner: reaps the CQE (the arm's claim and the count
 *       out of flight in one RMW, rt_wait_io_done()), and on a kick
 *       cancels the arm if its wait is over (io_arms_cancel()).
 *   D   the peer: sends the bytes, or not.
 *   Q   rt_waitq_wake(): claims the queue arm, publishes.
 *   T   the timer heap firing the deadline (rt_wait_expire()).
 *   C   rt_task_cancel(): the flag, then claims a parked wait.
 *
 * The requeue rule (waitq.c, NO WAKE INTO A BUFFER): the RMW after which
 * WON and UNWOUND hold and no I/O arm is in flight requeues the task;
 * the RMW that makes WON and UNWOUND hold with an arm in flight kicks the
 * owner. Each RMW on the state is one atomic step here (sequential
 * consistency; the code's RMWs are on one word).
 *
 * Properties:
 *   - the task is made runnable exactly once, after it unwound, and
 *     only once the kernel has posted the op's CQE (never resumes with
 *     its buffer still the kernel's);
 *   - exactly one arm wins, and the result W sees is that arm's;
 *   - the bytes are never lost nor taken twice: in the recv's buffer
 *     (its result says so) or still in the socket;
 *   - every party ends (a lost kick would leave the op in flight and W
 *     parked for good: an invalid end state).
 *
 * Variants (-D at spin -a time):
 *   NO_TIMER        no deadline: only the cancel (always) ends a wait
 *                   that nothing else ends.
 *   BUG_NO_IO_COUNT the requeue ignores the arms in flight. Must fail.
 *   BUG_NO_KICK     nobody has the arm cancelled. Must fail (with no
 *                   bytes, the op never ends).
 */

#define WAITING		1
#define ARMED		2
#define WON		4
#define UNWOUND		8
#define ARM_NONE	0
#define ARM_IO		1
#define ARM_Q		2
#define ARM_TIMEOUT	3
#define ARM_CANCEL	4

#define RES_NONE	0
#define RES_BYTES	1
#define RES_CANCELED	2

byte state;		/* t->wait.state: the bits */
byte io;		/* ... and the count of I/O arms in flight */
byte arm;		/* ... and the arm that won */
bit cancel_flag;
bit qlock;
bit qlinked;		/* the queue arm is linked */
bit heap_lock;
bit in_heap;
bit submitted;		/* the SQE reached the kernel */
bit cancel_req;		/* an ASYNC_CANCEL reached the kernel */
bit cancel_sent;	/* the owner sent one (RT_WP_CANCEL_SENT) */
bit cqe;		/* posted, not reaped */
bit reaped;
bit kick;		/* w->io_arm_kick */
bit sent;		/* the peer sent the bytes */
bit in_socket;		/* ... and they are still there */
byte io_res;		/* what the op did */
byte runnable;
bit unwound_seen;
bit finished;
bit buf_free;		/* W has its buffer back (finish) */
byte result;		/* the arm W resumed with */

inline spin_lock(l) { atomic { l == 0 -> l = 1 } }
inline spin_unlock(l) { l = 0 }

inline claim(a, ok) {
	atomic {
		if
		:: state & ARMED ->
			state = state & ~ARMED; arm = a; ok = 1;
			if	/* CLAIMED AFTER THE UNWIND: no handshake left */
			:: (state & UNWOUND) && io == 0 -> state = state | WON
			:: else
			fi
		:: else -> ok = 0
		fi
	}
}

#define ready(s) (((s) & (WON | UNWOUND)) == (WON | UNWOUND))

inline make_runnable() {
	assert(unwound_seen);
	assert(reaped || !submitted);	/* the kernel is done with the buffer */
	runnable++;
	assert(runnable == 1)
}

/* wait_settle after an RMW from old: requeue, kick, or nothing */
inline settle(old) {
	if
	:: ready(state) && (io == 0) -> make_runnable()
#ifdef BUG_NO_IO_COUNT
	:: ready(state) && (io > 0) && !ready(old) -> make_runnable()
#else
	:: ready(state) && (io > 0) && !ready(old) ->
#ifndef BUG_NO_KICK
		kick = 1
#else
		skip
#endif
#endif
	:: else -> skip
	fi
}

/* rt_wait_publish: WON, unless the claim set it (then requeue) */
inline publish() {
	if
	:: state & WON -> make_runnable()
	:: else ->
		atomic {
			old = state;
			state = state | WON;
			settle(old)
		}
	fi
}

proctype Waiter()
{
	bit ok;
	byte old;

	if
	:: cancel_flag -> finished = 1; buf_free = 1; goto out	/* rt_op_check */
	:: else -> skip
	fi;
	state = WAITING | ARMED;	/* wait_arm, seq_cst */
	io = 1;				/* io_arm_start: counted in flight */
	spin_lock(qlock);
	qlinked = 1;			/* the queue arm: never ready here */
	spin_unlock(qlock);
	if				/* rt_wait_suspend: NO LOST CANCEL */
	:: cancel_flag -> claim(ARM_CANCEL, ok); if :: ok -> publish() :: else fi
	:: else
	fi;
	/* the step unwinds; rt_wait_commit() */
#ifndef NO_TIMER
	spin_lock(heap_lock); in_heap = 1; spin_unlock(heap_lock);
#endif
	atomic {
		unwound_seen = 1;
		old = state;
		state = state | UNWOUND;
		settle(old)
	}
	submitted = 1;		/* the owner's turn hands the SQE over */
	runnable > 0;
	/* rt_wait_finish() */
	spin_lock(heap_lock); in_heap = 0; spin_unlock(heap_lock);
	spin_lock(qlock);
	if :: qlinked -> qlinked = 0 :: else fi;
	spin_unlock(qlock);
	result = arm;
	buf_free = 1;
	state = 0;
	finished = 1;
out:
	skip
}

proctype Kernel()
{
	(submitted || finished);
	if
	:: finished && !submitted -> goto out	/* never started */
	:: else
	fi;
	/* the op completes with the bytes or is cut by the cancel */
	do
	:: atomic { in_socket -> in_socket = 0; io_res = RES_BYTES; break }
	:: atomic { cancel_req -> io_res = RES_CANCELED; break }
	od;
	assert(!buf_free);	/* no write into a buffer W has back */
	cqe = 1;
out:
	skip
}

proctype Owner()
{
	bit ok;
	byte old;

	do
	:: atomic { kick -> kick = 0 };	/* io_arms_cancel() */
		if
		:: !reaped && !cancel_sent && ready(state) ->
			cancel_sent = 1; cancel_req = 1
		:: else
		fi
	:: cqe && !reaped ->		/* the reaper, then settle */
		reaped = 1;
		atomic {
			claim(ARM_IO, ok);
			old = state;
			io--;
			if :: ok -> state = state | WON :: else fi;
			settle(old)
		}
	:: finished && !kick -> break
	od
}

proctype Peer()
{
	if
	:: atomic { sent = 1; in_socket = 1 }
	:: skip
	fi
}

proctype QWaker()
{
	bit ok;
	byte old;

	spin_lock(qlock);
	ok = 0;
	if
	:: qlinked -> qlinked = 0; claim(ARM_Q, ok)
	:: else
	fi;
	spin_unlock(qlock);
	if
	:: ok -> publish()
	:: else
	fi
}

proctype Timer()
{
	bit ok;
	byte old;

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
	byte old;

	cancel_flag = 1;
	if
	:: state & WAITING ->
		claim(ARM_CANCEL, ok);
		if :: ok -> publish() :: else fi
	:: else
	fi
}

init {
	atomic {
		run Waiter();
		run Kernel();
		run Owner();
		run Peer();
		run QWaker();
#ifndef NO_TIMER
		run Timer();
#endif
		run Canceller();
	}
	_nr_pr == 1;
	assert(finished && runnable <= 1);
	/* the bytes: in the recv's buffer or still in the socket */
	assert(sent == (in_socket || io_res == RES_BYTES));
	assert(!(in_socket && io_res == RES_BYTES));
	/* the I/O arm won exactly when its op took the bytes first */
	assert(result != ARM_IO || io_res == RES_BYTES)
}
