/*
 * freelists.S (AArch64) — keep scopes off the interpreter's data-bearing free lists.
 *
 * CPython parks some freed objects on free lists (floats, 3.14+'s ints,
 * complexes, tuples with their cached hash, range iterators, unicode and
 * 3.15's bytes writers) and hands them out again without the allocator: a
 * parked object keeps its payload, and one taken from a list inside a scope
 * was never allocated there, so heap.S does not know it.
 *
 * While any thread of the main interpreter is inside a scope, every list
 * _freelists.py located is disabled: its head is saved and set to NULL (no
 * pop finds anything: the object is allocated, so recorded by heap.S) and its
 * count is set to a value that refuses every push (the object is freed, so
 * zeroed by heap.S if a scope allocated it).  When the last such thread
 * leaves its outermost scope the saved lists are put back; they hold only
 * objects parked before the first of those scopes began.  A list found
 * refilled at that point (3.10-3.13's gc clears the float list and resets its
 * count to 0, which re-enables it) holds objects parked during the scope:
 * each is freed with the list's own free function first.
 *
 * All of it runs with the GIL of the main interpreter held (scope edges are
 * Python calls), which serializes it with every user of those lists.  The
 * routines load list heads, counts and links: pointers and counters only,
 * never an object's payload.
 *
 * Two kinds of list cannot be disabled (no count value refuses pushes):
 * 3.10's dict keys (an array; push and pop share one counter) and 3.12+'s
 * dtoa Bigints (no count at all).  At every thread's outermost exit, their
 * parked objects still marked dirty get their payload zeroed and are marked
 * clean (fl_zero_arrays, fl_zero_chains).
 *
 * Cost: nothing unless _freelists.py installed entries; then one call of
 * PyInterpreterState_Get per outermost scope edge, plus a load and two stores
 * per list at the first entry and the last exit (26 lists on 3.15).
 */
.include "common.inc"
.include "macros.inc"

/* The three tables' layouts (FL_*, FLZ_*, FLC_*: fields, record size, records)
 * are in interface.inc, from secretscope/_interface.py. */
/* Array free lists that cannot be disabled (3.10's dict keys: push and pop
 * share one counter): a parked object marked dirty has its payload zeroed at
 * every outermost exit instead. */
/* Linked free lists that cannot be disabled (dtoa's Bigints: no count, every
 * free is a push): dirty parked nodes are zeroed at every outermost exit. */
.equ FL_FRAME, 192 /* x29/x30, x0-x18, x19-x21                              */

.include "freelists.data.inc"          /* asm/shared: the data, both arches */

    .text
/* x9 = &sym (a local data symbol). */
.macro ADDR reg, sym
    adrp \reg, \sym
    add \reg, \reg, #:lo12:\sym
.endm

/* Increment the 64-bit word at ss_fl_stats + off.  clobbers: x9, x10. */
.macro STAT_INC off
    ADDR x9, ss_fl_stats
    ldr x10, [x9, #\off]
    add x10, x10, #1
    str x10, [x9, #\off]
.endm

/* A frame saving every general-purpose register a C call may clobber
 * (x0-x18) and x19-x21, used here; the link register is signed (PAC). */
.macro FL_SAVE_ALL
    PROLOGUE FL_FRAME
    SAVE_REGS FL_FRAME, 16, x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, x16, x17, x18, x19, x20, x21
.endm

.macro FL_RESTORE_ALL
    RESTORE_REGS 16, x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, x16, x17, x18, x19, x20, x21
.endm

/* Z set when the calling thread's interpreter is ss_fl_interp.  Inside a
 * FL_SAVE_ALL frame; clobbers caller-saved registers (a C call). */
.macro FL_CURRENT_IS_OURS
    LDR_GLOBAL x16, ss_fl_get_interp
    blr x16
    LDR_GLOBAL x9, ss_fl_interp
    cmp x0, x9
.endm

/*
 * fl_restore_all                                         [internal]
 *
 * Puts every saved list back.  A list that is not as it was left (head not
 * NULL, or count not the disabled value) was refilled during the scope: its
 * objects are freed with the list's free function first (heap.S zeroes those
 * the scope allocated).
 *   clobbers: caller-saved registers (C calls); keeps x19-x21.
 */
LOCALFUNC fl_restore_all
    ENTER 48, x19, x20, x21
    ADDR x19, ss_fl_entries
    LDR_GLOBAL x20, ss_fl_count
    cbz x20, .Lrestore_done
.Lrestore_entry:
    ldr x9, [x19, #FL_HEAD]
    ldr x21, [x9]                       /* x21 = current head                    */
    ldr x9, [x19, #FL_COUNT]
    ldr x10, [x19, #FL_WIDTH]
    cmp x10, #4
    b.ne .Lrestore_count64
    ldrsw x11, [x9]
    b .Lrestore_counted
.Lrestore_count64:
    ldr x11, [x9]
.Lrestore_counted:
    cbnz x21, .Lrestore_refilled
    ldr x10, [x19, #FL_DISABLED]
    cmp x11, x10
    b.eq .Lrestore_put_back
.Lrestore_refilled:
    STAT_INC 8
    ldr x10, [x19, #FL_FREE]
    cbz x10, .Lrestore_put_back         /* (never installed without one)         */
.Lrestore_free_one:
    cbz x21, .Lrestore_put_back
    mov x0, x21
    ldr x9, [x19, #FL_LINK]
    ldr x21, [x21, x9]                  /* next, read before the free            */
    ldr x16, [x19, #FL_FREE]
    blr x16
    STAT_INC 16
    b .Lrestore_free_one
.Lrestore_put_back:
    ldr x9, [x19, #FL_HEAD]
    ldr x10, [x19, #FL_SAVED_HEAD]
    str x10, [x9]
    str xzr, [x19, #FL_SAVED_HEAD]
    ldr x9, [x19, #FL_COUNT]
    ldr x10, [x19, #FL_SAVED_COUNT]
    ldr x11, [x19, #FL_WIDTH]
    cmp x11, #4
    b.ne .Lrestore_put_count64
    str w10, [x9]
    b .Lrestore_next
.Lrestore_put_count64:
    str x10, [x9]
.Lrestore_next:
    add x19, x19, #FL_SIZE
    subs x20, x20, #1
    b.ne .Lrestore_entry
.Lrestore_done:
    LEAVE_RETURN 48, x19, x20, x21
ENDFUNC fl_restore_all

/*
 * fl_zero_arrays                                         [internal, leaf]
 *
 * For every array list (ss_fl_zero): each parked object whose dirty word is
 * non-zero gets its payload zeroed (stp of the zero register: zeros only)
 * and the word cleared.  Cost: a load per parked object, plus the zeroing of
 * those parked since the last exit.
 *   clobbers: x9-x15, NZCV.
 */
LOCALFUNC fl_zero_arrays
    LDR_GLOBAL x9, ss_fl_zero_count
    cbz x9, .Lzero_done
    ADDR x10, ss_fl_zero
.Lzero_list:
    ldr x11, [x10, #FLZ_COUNT]
    ldrsw x11, [x11]                    /* x11 = parked objects                  */
    cmp x11, #0
    b.le .Lzero_next_list
    ldr x12, [x10, #FLZ_LIMIT]
    cmp x11, x12
    b.hi .Lzero_next_list               /* not a count this list can have        */
    ldr x12, [x10, #FLZ_ARRAY]
.Lzero_object:
    ldr x13, [x12], #8                  /* x13 = a parked object                 */
    cbz x13, .Lzero_arrays_next
    ldr x14, [x10, #FLZ_DIRTY]
    ldr x15, [x13, x14]
    cbz x15, .Lzero_arrays_next
    str xzr, [x13, x14]
    ldr x14, [x10, #FLZ_ZERO_OFF]
    add x13, x13, x14
    ldr x15, [x10, #FLZ_ZERO_BYTES]
.Lzero_array:
    stp xzr, xzr, [x13], #16
    subs x15, x15, #16
    b.hi .Lzero_array
.Lzero_arrays_next:
    subs x11, x11, #1
    b.ne .Lzero_object
.Lzero_next_list:
    add x10, x10, #FLZ_SIZE
    subs x9, x9, #1
    b.ne .Lzero_list
.Lzero_done:
    ret
ENDFUNC fl_zero_arrays

/*
 * fl_zero_chains                                         [internal, leaf]
 *
 * For every linked list of ss_fl_chains: each parked node whose dirty word is
 * non-zero gets that word and its data (4 * words bytes) zeroed (str of the
 * zero register: zeros only).  At most FLC_LIMIT nodes per list.
 *   clobbers: x9-x17, NZCV.
 */
LOCALFUNC fl_zero_chains
    LDR_GLOBAL x9, ss_fl_chain_count
    cbz x9, .Lchain_done
    ADDR x10, ss_fl_chains
.Lchain_list:
    ldr x11, [x10, #FLC_HEADS]          /* x11 = &heads[i]                       */
    ldr x12, [x10, #FLC_NHEADS]
    cbz x12, .Lchain_next_list
.Lchain_head:
    ldr x13, [x11], #8                  /* x13 = a parked node                   */
    ldr x14, [x10, #FLC_LIMIT]          /* x14 = nodes this list may still have  */
.Lchain_node:
    cbz x13, .Lchain_next_head
    subs x14, x14, #1
    b.lt .Lchain_next_head
    ldr x15, [x10, #FLC_DIRTY]
    ldr x16, [x13, x15]
    cbz x16, .Lzero_chains_next
    str xzr, [x13, x15]
    ldr x15, [x10, #FLC_WORDS]
    ldrsw x16, [x13, x15]
    ldr x15, [x10, #FLC_MAX_WORDS]
    cmp x16, x15
    b.hi .Lzero_chains_next             /* (unsigned: a negative count too)      */
    cbz x16, .Lzero_chains_next
    ldr x15, [x10, #FLC_DATA]
    add x17, x13, x15
.Lzero_chain_words:
    str wzr, [x17], #4
    subs x16, x16, #1
    b.ne .Lzero_chain_words
.Lzero_chains_next:
    ldr x13, [x13]                      /* next                                  */
    b .Lchain_node
.Lchain_next_head:
    subs x12, x12, #1
    b.ne .Lchain_head
.Lchain_next_list:
    add x10, x10, #FLC_SIZE
    subs x9, x9, #1
    b.ne .Lchain_list
.Lchain_done:
    ret
ENDFUNC fl_zero_chains

/*
 * ss_freelists_enter                                     [internal]
 *
 * Called (bl) by the trampoline when the calling thread enters its outermost
 * scope (depth 0 -> 1), with the GIL held.  If the thread runs in the
 * interpreter whose lists are installed and no other thread of it is inside
 * a scope, saves and disables every list.
 *   preserves: x0-x29 (x30 is the return address); clobbers NZCV.
 */
LOCALFUNC ss_freelists_enter
    FL_SAVE_ALL
    LDR_GLOBAL x9, ss_fl_count
    cbz x9, .Lenter_out
    FL_CURRENT_IS_OURS
    b.ne .Lenter_out                    /* another interpreter: not its lists    */
    ADDR x9, ss_fl_inside
    ldr x10, [x9]
    add x10, x10, #1
    str x10, [x9]
    cmp x10, #1
    b.ne .Lenter_out                    /* already disabled by another thread    */
    STAT_INC 0
    ADDR x19, ss_fl_entries
    LDR_GLOBAL x20, ss_fl_count
.Lenter_entry:
    ldr x9, [x19, #FL_HEAD]
    ldr x10, [x9]
    str x10, [x19, #FL_SAVED_HEAD]
    str xzr, [x9]                       /* no pop finds anything                 */
    ldr x9, [x19, #FL_COUNT]
    ldr x11, [x19, #FL_DISABLED]
    ldr x12, [x19, #FL_WIDTH]
    cmp x12, #4
    b.ne .Lenter_count64
    ldrsw x10, [x9]
    str w11, [x9]                       /* every push is refused                 */
    b .Lenter_saved
.Lenter_count64:
    ldr x10, [x9]
    str x11, [x9]
.Lenter_saved:
    str x10, [x19, #FL_SAVED_COUNT]
    add x19, x19, #FL_SIZE
    subs x20, x20, #1
    b.ne .Lenter_entry
.Lenter_out:
    FL_RESTORE_ALL
    RETURN FL_FRAME
ENDFUNC ss_freelists_enter

/*
 * ss_freelists_exit                                      [internal]
 *
 * Reached when the calling thread leaves its outermost scope (depth 1 -> 0),
 * with the GIL held: scope_end_depth, a leaf, tail-branches here (b), so
 * this returns to its caller.  The last thread of the interpreter to leave
 * puts the saved lists back (fl_restore_all).
 * This runs after the stack was erased and before the trampoline clears the
 * caller-saved registers, which may still hold the function's values: it
 * zeroes them first, so that neither its frame nor the C functions it calls
 * can store them below the erased region.
 *   preserves: x0, x19-x29.  clobbers: x1-x18 (zeroed), NZCV.
 */
LOCALFUNC ss_freelists_exit
    CLEAR_GPRS_BUT_X0                   /* the function's values: not stored below */
    LDR_GLOBAL x9, ss_fl_count
    LDR_GLOBAL x10, ss_fl_zero_count
    orr x9, x9, x10
    LDR_GLOBAL x10, ss_fl_chain_count
    orr x9, x9, x10
    cbnz x9, .Lexit_lists
    ret
.Lexit_lists:
    mov x9, xzr
    mov x10, xzr
    PROLOGUE 48
    SAVE_PAIR x0, x19, 16, 48
    SAVE_PAIR x20, x21, 32, 48
    FL_CURRENT_IS_OURS
    b.ne .Lexit_out
    bl fl_zero_arrays                   /* every thread's exit: what it parked   */
    bl fl_zero_chains
    ADDR x9, ss_fl_inside
    ldr x10, [x9]
    cbz x10, .Lexit_out                 /* entered before the lists were installed */
    subs x10, x10, #1
    str x10, [x9]
    b.ne .Lexit_out
    bl fl_restore_all
.Lexit_out:
    RESTORE_PAIR x0, x19, 16
    RESTORE_PAIR x20, x21, 32
    CLEAR_GPRS_BUT_X0                   /* what the C calls left: zeroed anyway  */
    RETURN 48
ENDFUNC ss_freelists_exit

/*
 * void ss_freelists_reset(uint64_t inside)               [ctypes, GIL held]
 *
 * Sets the number of the interpreter's threads inside a scope (a fork child:
 * only the forking thread survives).  If the lists were disabled and now no
 * thread is inside, puts them back.
 */
FUNC ss_freelists_reset
    ENTER 32, x19
    ADDR x9, ss_fl_inside
    ldr x19, [x9]
    str x0, [x9]
    cbnz x0, .Lreset_out
    cbz x19, .Lreset_out
    bl fl_restore_all
.Lreset_out:
    LEAVE_RETURN 32, x19
ENDFUNC ss_freelists_reset

/*
 * void ss_fl_free_float(PyObject *op)          [FL_FREE of 3.10-3.13's float list]
 *
 * Frees a float of a list found refilled at the last exit, value first:
 * zeroes ob_fval (offset 16 of PyFloatObject; the list links through
 * ob_type, read by fl_restore_all before this call) and tail-calls
 * ss_fl_float_free (PyObject_Free, set by _freelists.py).  heap.S zeroes a
 * float the scope allocated anyway; this covers one allocated BEFORE the
 * scope, parked inside it after a gc.collect() re-enabled the list, taken
 * again for a value of the scope and parked once more: never recorded, so
 * nothing else would zero it.  clobbers: x16 and what PyObject_Free clobbers.
 */
FUNC ss_fl_free_float
    str xzr, [x0, #16]                 /* ob_fval: the value, never read       */
    LDR_GLOBAL x16, ss_fl_float_free
    br x16                             /* a tail call: x30 is the caller's      */
ENDFUNC ss_fl_free_float

GNU_PROPERTY_NOTES
