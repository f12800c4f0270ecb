/*
 * join_cancel.pml: completion vs join vs cancel (runtime/task.c) as a
 * Promela model.
 *
 * Modelled: runtime/task.c of branch lifecycle at 0654dda (its join
 * give-back came with 5009f1b): task_complete(), rt_op_join(),
 * rt_task_commit_join(), join_give_back() as task_run() (task.c) calls it,
 * rt_task_cancel() and rt_task_join().
 *
 * What runs:
 *   T   a task that completes with result R.
 *   J   a task (with a handle, held by C) that joins T in RT_JOIN.
 *   C   a foreign thread that cancels J, then releases J's handle.
 *   K   once J's join ended with -ECANCELED, a second joiner of T: a
 *       task in RT_JOIN or a foreign rt_task_join() (the model picks).
 * A task made runnable resumes in its own process at once: it may be
 * stolen or adopted by another worker while its waker is still running
 * (balance.c), so nothing orders its resumption after the waker's
 * remaining steps.
 *
 * Memory model: sequential consistency. Every access to flags, waiter,
 * done and refs here is an atomic RMW or a seq_cst/acquire-release
 * access paired as the code pairs them (done vs RT_TF_FOREIGN is a
 * seq_cst exchange then a seq_cst load against a seq_cst fetch-or then
 * the futex's load); the model does not check what a weaker order
 * would add.
 *
 * Properties (assertions):
 *   - a task suspended in a join is woken exactly once, with R (and T
 *     done) or -ECANCELED;
 *   - no use after free: refs never go below zero, no field of a freed
 *     task is touched, each task is freed once, and every task is freed
 *     once everyone let go (checked at the end);
 *   - the target stays joinable: a join started after J's join ended
 *     with -ECANCELED gets R.
 *
 * Variants (-D at spin -a time):
 *   (none)             the code as modelled. Fails: see
 *                      Documentation/model-checking.md for the two
 *                      problems it finds.
 *   FIX_COMMIT_UNREF   rt_task_commit_join() drops the slot's reference
 *                      with rt_task_unref() (fixes the leak).
 *   NO_REJOIN          no second joiner: everything but joinability
 *                      after a cancelled join.
 *   FIX_COMMITTING     a sketch of a fix for the late CAS: the commit
 *                      marks x COMMITTING (with a reference of its own)
 *                      until it is over, and join_give_back() waits for
 *                      the mark to go before it looks at the slot.
 *   BUG_WAKE_NO_CLEAR  cancel wakes a joiner it sees in JOIN_WAIT without
 *                      clearing the bit: two wakers. Must fail.
 */

#define T	0
#define J	1
#define K	2
#define NOBODY	3	/* waiter slot: NULL */
#define DONE	4	/* waiter slot: RT_WAITER_DONE */

#define R		5	/* T's result */
#define ECANCELED	2	/* stands for -ECANCELED */
#define EALREADY	3	/* stands for -EALREADY */
#define PENDING		9

/* rt_task.flags */
#define F_JOINED	1
#define F_CANCEL	2
#define F_FOREIGN	4
#define F_JOIN_WAIT	8
#define F_COMMITTING	16	/* FIX_COMMITTING only */

/* rt_task.action, as far as it matters here */
#define ACT_NONE	0
#define ACT_JOIN	1

byte flags[3];
byte refs[3];
bit done[3];
byte waiter[3];
byte result[3];		/* rt_task.result */
byte ret[3];		/* h.ret: what a woken task resumes with */
byte action[3];
bit freed[3];
byte woken[3];		/* wake-ups of the current join wait */
bit futex_sleeping;	/* K asleep on T's done */
bit j_cancelled;	/* J's join ended with -ECANCELED: K may start */
bit j_gone, k_gone, c_gone, t_gone;

#define LIVE(x)	assert(!freed[x])

inline unref(x)
{
	atomic {
		LIVE(x);
		assert(refs[x] > 0);
		refs[x]--;
		if
		:: refs[x] == 0 -> freed[x] = 1
		:: else -> skip
		fi
	}
}

/*
 * The relaxed fetch_sub of rt_task_commit_join(): never frees, so when
 * x was woken and finished on another worker meanwhile, nobody frees x.
 * FIX_COMMIT_UNREF drops it with rt_task_unref() instead.
 */
inline drop_ref_nofree(x)
{
#ifdef FIX_COMMIT_UNREF
	unref(x)
#else
	atomic { LIVE(x); assert(refs[x] > 0); refs[x]-- }
#endif
}

inline make_runnable(x)
{
	atomic { LIVE(x); woken[x]++; assert(woken[x] == 1) }
}

/* old = fetch_and(flags[x], ~bit) */
#define FETCH_AND(x, b, old)	atomic { LIVE(x); old = flags[x]; flags[x] = flags[x] & ~(b) }
#define FETCH_OR(x, b, old)	atomic { LIVE(x); old = flags[x]; flags[x] = flags[x] | (b) }

/* task_complete(x, r) for a task with a handle (T, J). */
inline complete(x, r, w, old)
{
	atomic { LIVE(x); result[x] = r; done[x] = 1 };
	atomic { w = waiter[x]; waiter[x] = DONE };
	if
	:: w != NOBODY ->
		FETCH_AND(w, F_JOIN_WAIT, old);
		if
		:: old & F_JOIN_WAIT ->
			atomic { ret[w] = r; action[w] = ACT_NONE };
			make_runnable(w)
		:: else -> skip
		fi;
		unref(w)		/* the waiter slot's reference */
	:: else -> skip
	fi;
	atomic { LIVE(x); old = flags[x] };
	if
	:: old & F_FOREIGN -> futex_sleeping = 0
	:: else -> skip
	fi;
	unref(x)			/* the runtime's */
}

/* task_complete() of a detached task (K). */
inline complete_detached(x)
{
	atomic {
		LIVE(x);
		if
		:: refs[x] == 1 -> refs[x] = 0; freed[x] = 1
		:: else -> skip
		fi
	};
	if
	:: !freed[x] -> unref(x)
	:: else -> skip
	fi
}

/*
 * rt_op_join(x, T); res = its result, or PENDING, in which case x has
 * unwound and its worker runs rt_task_commit_join(x).
 */
inline op_join(x, res, old)
{
	atomic { LIVE(x); old = flags[x] };
	if
	:: old & F_CANCEL -> res = ECANCELED
	:: else ->
		FETCH_OR(T, F_JOINED, old);
		if
		:: old & F_JOINED -> res = EALREADY
		:: else ->
			atomic { LIVE(T); old = done[T] };
			if
			:: old -> atomic { LIVE(T); res = result[T] }
			:: else -> action[x] = ACT_JOIN; res = PENDING
			fi
		fi
	fi
}

inline commit_join(x, old, old2, cas)
{
	atomic { LIVE(x); refs[x]++ };
#ifdef FIX_COMMITTING
	/* the commit's own reference, for its last touch of x below */
	atomic { LIVE(x); refs[x]++ };
	FETCH_OR(x, F_JOIN_WAIT | F_COMMITTING, old);
#else
	FETCH_OR(x, F_JOIN_WAIT, old);
#endif
	cas = 0;
	if
	:: !(old & F_CANCEL) ->
		atomic {
			LIVE(T);
			if
			:: waiter[T] == NOBODY -> waiter[T] = x; cas = 1
			:: else -> skip
			fi
		}
	:: else -> skip
	fi;
	if
	:: cas -> skip			/* suspended */
	:: else ->
		FETCH_AND(x, F_JOIN_WAIT, old2);
		if
		:: old2 & F_JOIN_WAIT ->
			if
			:: old & F_CANCEL -> ret[x] = ECANCELED
			:: else -> atomic { LIVE(T); ret[x] = result[T] }; action[x] = ACT_NONE
			fi;
			make_runnable(x)
		:: else -> skip
		fi;
		drop_ref_nofree(x)
	fi;
#ifdef FIX_COMMITTING
	FETCH_AND(x, F_COMMITTING, old2);
	unref(x)
#endif
}

/* task_run() (task.c) of a task woken out of a join: join_give_back(). */
inline resume(x, old)
{
	woken[x] == 1;
	if
	:: action[x] == ACT_JOIN ->
#ifdef FIX_COMMITTING
		/* a cancel can wake x before its commit is over: wait */
		atomic { LIVE(x); !(flags[x] & F_COMMITTING) };
#endif
		atomic {
			LIVE(T);
			if
			:: waiter[T] == x -> waiter[T] = NOBODY; unref(x)
			:: else -> skip
			fi
		};
		FETCH_AND(T, F_JOINED, old)
	:: else -> skip
	fi;
	action[x] = ACT_NONE
}

/* A join's outcome: R from a done T, or -ECANCELED. */
inline check_join(x, res)
{
	assert(res == R || res == ECANCELED);
	assert(res != R || done[T])
}

proctype target()
{
	byte w, old;

	complete(T, R, w, old);
	t_gone = 1
}

bit nojoin[3];		/* x never suspended in a join */
bit ran[3];		/* x's first run (up to its commit) is over */

/* The end of a join: J records how it ended, then J or K completes. */
inline finish(x, res, w, old)
{
	check_join(x, res);
	if
	:: x == J ->
		if
		:: res == ECANCELED -> j_cancelled = 1
		:: else -> skip
		fi;
		complete(J, res, w, old);
		j_gone = 1
	:: else ->
		assert(res == R);	/* T stayed joinable */
		complete_detached(K);
		k_gone = 1
	fi
}

/* x's task_run() (task.c) on some worker, up to its join and the commit. */
proctype joiner(byte x)
{
	byte res, old, old2;
	bit cas;

	/* a task cancelled before it started never runs */
	old = flags[x];
	if
	:: old & F_CANCEL -> res = ECANCELED
	:: else -> op_join(x, res, old)
	fi;
	if
	:: res == PENDING -> commit_join(x, old, old2, cas)
	:: else -> nojoin[x] = 1; finish(x, res, old2, old)
	fi;
	ran[x] = 1
}

/* x woken out of its join, on whichever worker took it. */
proctype resumer(byte x)
{
	byte res, w, old;

	if
	:: nojoin[x] -> goto out
	:: woken[x] == 1 -> skip
	fi;
	resume(x, old);
	res = ret[x];
	finish(x, res, w, old);
out:
	skip
}

proctype canceller()
{
	byte old;

	/* rt_task_cancel(J) */
	atomic { LIVE(J); old = done[J] };
	if
	:: old -> skip
	:: else ->
		FETCH_OR(J, F_CANCEL, old);
		if
		:: old & F_CANCEL -> skip
		:: else ->
#ifdef BUG_WAKE_NO_CLEAR
			atomic { LIVE(J); old = flags[J] };
#else
			FETCH_AND(J, F_JOIN_WAIT, old);
#endif
			if
			:: old & F_JOIN_WAIT ->
				ret[J] = ECANCELED;
				make_runnable(J)
			:: else -> skip	/* not asleep: its next op sees the flag */
			fi
		fi
	fi;
	unref(J);			/* rt_task_release(): C's handle */
	c_gone = 1
}

/* K as a foreign thread: rt_task_join(T). */
proctype foreign_k()
{
	byte old;

	FETCH_OR(T, F_JOINED | F_FOREIGN, old);
	assert(!(old & F_JOINED));	/* T stayed joinable */
	do
	:: atomic { LIVE(T); old = done[T] };
	   if
	   :: old -> break
	   :: else -> skip
	   fi;
	   /* futex_wait(&done, 0): the kernel compares first */
	   atomic {
		if
		:: !done[T] -> futex_sleeping = 1
		:: else -> skip
		fi
	   };
	   futex_sleeping == 0
	od;
	atomic { LIVE(T); assert(result[T] == R) };
	atomic { refs[K] = 0; freed[K] = 1 };	/* K is no task here */
	k_gone = 1
}

init
{
	atomic {
		waiter[T] = NOBODY; waiter[J] = NOBODY; waiter[K] = NOBODY;
		refs[T] = 2;	/* the runtime's, the handle J's frame holds */
		refs[J] = 2;	/* the runtime's, C's handle */
		refs[K] = 1;	/* detached */
		run target();
		run joiner(J);
		run resumer(J);
		run canceller()
	}
	if
#ifndef NO_REJOIN
	:: j_cancelled ->
		if
		:: atomic { run joiner(K); run resumer(K) }
		:: run foreign_k()
		fi
	:: !j_cancelled && j_gone -> k_gone = 1; refs[K] = 0; freed[K] = 1
#else
	:: j_gone -> k_gone = 1; refs[K] = 0; freed[K] = 1
#endif
	fi;
	/* everyone let go: J's frame releases its handle on T */
	(t_gone && j_gone && k_gone && c_gone && ran[J] &&
	 (ran[K] || !j_cancelled || freed[K]));
	unref(T);
	assert(freed[T] && freed[J] && freed[K])	/* no leak */
}
