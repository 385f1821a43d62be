/*
 * threads.S — per-thread state: scope depth and stack bounds.
 *
 * A thread is identified by its thread pointer, tpidr_el0 (the TLS base the
 * C library sets for each thread; glibc and musl both do, and it is never 0
 * for a thread that runs Python).  It is one register read, needs no libc and
 * no TLS relocation.
 *
 * ss_slots is an open-addressing table of SLOT_COUNT cache-line slots.  A slot's
 * key is written only by a compare-and-swap that claims it (0 or dead -> tp) or
 * by the owner marking it dead (tp -> tp|1) when its thread ends.  Every other
 * field is written only by the owning thread (or by registration, which runs on
 * the owning thread too), so lookups need no locks.  Lookups probe from the
 * hash of tp and stop at a never-used key (0); dead keys are skipped and may be
 * reclaimed by a new thread.  The claim uses load-/store-exclusive (ARMv8.0;
 * no dependency on the LSE atomics of ARMv8.1).
 */
.include "common.inc"
.include "macros.inc"

.include "threads.data.inc"          /* asm/shared: the data, both arches */

    .text

/* x\dst = first probe index for thread pointer x\tp (Fibonacci hashing). */
.macro SLOT_HASH dst, tp, tmp
    movz \tmp, #0x7c15
    movk \tmp, #0x7f4a, lsl #16
    movk \tmp, #0x79b9, lsl #32
    movk \tmp, #0x9e37, lsl #48
    mul \dst, \tp, \tmp
    lsr \dst, \dst, #(64 - SLOT_BITS)
.endm

/*
 * slot_find — find the live slot of thread pointer x0.     [internal, leaf]
 *   in:  x0 = thread pointer
 *   out: x0 = slot address, or 0 when this thread has none
 *   clobbers: x9-x13, flags.  Uses no stack; x1-x8 are preserved.
 */
LOCALFUNC slot_find
    SLOT_HASH x9, x0, x10               /* x9 = index                          */
    adrp x10, ss_slots
    add x10, x10, #:lo12:ss_slots       /* x10 = table                         */
    mov x11, #SLOT_COUNT                /* x11 = probes left                   */
1:  add x12, x10, x9, lsl #SLOT_SHIFT   /* x12 = &slots[index]                 */
    ldr x13, [x12, #SLOT_KEY]
    cmp x13, x0
    b.eq 2f
    cbz x13, 3f                         /* never used: the probe chain ends    */
    add x9, x9, #1
    and x9, x9, #(SLOT_COUNT - 1)
    subs x11, x11, #1
    b.ne 1b
3:  mov x0, #0
    ret
2:  mov x0, x12
    ret
ENDFUNC slot_find

/*
 * slot_claim — give thread pointer x0 a fresh slot.         [internal, leaf]
 *   Only called after slot_find returned 0 for the same thread, so the
 *   thread has no live slot and cannot race with itself.
 *   in:  x0 = thread pointer
 *   out: x0 = slot address (fields other than key zeroed), or 0 if full
 *   clobbers: x9-x15, flags.  Uses no stack; x1-x8 are preserved.
 */
LOCALFUNC slot_claim
    SLOT_HASH x9, x0, x10               /* x9 = index                          */
    adrp x10, ss_slots
    add x10, x10, #:lo12:ss_slots
    mov x11, #SLOT_COUNT
1:  add x12, x10, x9, lsl #SLOT_SHIFT
    ldr x13, [x12, #SLOT_KEY]           /* x13 = expected key for the CAS      */
    cbz x13, 2f                         /* never used                          */
    tbnz x13, #0, 2f                    /* dead: its thread has ended          */
3:  add x9, x9, #1
    and x9, x9, #(SLOT_COUNT - 1)
    subs x11, x11, #1
    b.ne 1b
    mov x0, #0
    ret
2:  ldaxr x14, [x12]                    /* claim it unless another thread did  */
    cmp x14, x13
    b.ne 4f
    stlxr w15, x0, [x12]
    cbnz w15, 2b                        /* lost the reservation: try again     */
    str xzr, [x12, #SLOT_DEPTH]
    str xzr, [x12, #SLOT_LOW]
    str xzr, [x12, #SLOT_HIGH]
    str xzr, [x12, #SLOT_FLOOR]
    str xzr, [x12, #SLOT_FLAGS]
    mov x13, #-1
    str x13, [x12, #SLOT_FAULTS]        /* nothing recorded: scan fully         */
    str xzr, [x12, #SLOT_SKIP]          /* and SLOT_STREAK                      */
    str xzr, [x12, #SLOT_N_SCANS]
    str xzr, [x12, #SLOT_N_RECORDED]
    str xzr, [x12, #SLOT_DEEP_SKIP]     /* and SLOT_DEEP_STREAK                 */
    str xzr, [x12, #SLOT_BLOCK]         /* (a dead thread's blocks are leaked)  */
    mov x0, x12
    ret
4:  clrex
    b 3b
ENDFUNC slot_claim

/*
 * uint64_t ss_register_thread(low, high, floor, flags)       [ctypes]
 *
 * Records the calling thread's stack bounds (computed by _threads.py).
 * Also asks the kernel never to back the stack with transparent huge pages
 * (MADV_NOHUGEPAGE): khugepaged could otherwise make untouched stack pages
 * resident without a page fault, and stack.S skips its scan only when no
 * page fault happened.  If that request fails for any reason but "no THP in
 * this kernel" (EINVAL), the thread is marked SLOTF_NOFAST: always scanned.
 *   in:  x0 = lowest mapped stack address, x1 = stack top (exclusive),
 *        x2 = floor (lowest address a grow-down stack may reach),
 *        x3 = SLOTF_* flags (SLOTF_REGISTERED is added)
 *   out: x0 = the thread pointer (the key), or 0 if the table is full
 *   clobbers: caller-saved registers.
 */
FUNC ss_register_thread
    PROLOGUE 16
    mov x4, x0                          /* x4 = low (slot_* keep x1-x8)        */
    mrs x0, tpidr_el0
    bl slot_find
    cbnz x0, 1f
    mrs x0, tpidr_el0
    bl slot_claim
    cbz x0, 2f
1:  str x4, [x0, #SLOT_LOW]
    str x1, [x0, #SLOT_HIGH]
    str x2, [x0, #SLOT_FLOOR]
    mov x5, #-1
    str x5, [x0, #SLOT_FAULTS]          /* new bounds: the next scope scans     */
    str xzr, [x0, #SLOT_SKIP]           /* and SLOT_STREAK                      */
    orr x3, x3, #SLOTF_REGISTERED
    mov x5, x0                          /* x5 = slot                            */
    mov x0, x4
    sub x1, x1, x4
    mov x2, #MADV_NOHUGEPAGE
    mov x8, #SYS_madvise
    svc #0
    cbz x0, 3f
    cmn x0, #EINVAL
    b.eq 3f
    orr x3, x3, #SLOTF_NOFAST
3:  str x3, [x5, #SLOT_FLAGS]
    mrs x0, tpidr_el0
2:  RETURN 16
ENDFUNC ss_register_thread

/*
 * int ss_forget_thread(uint64_t tp)                          [ctypes]
 *
 * Called when the thread whose pointer is tp has ended (its Python thread
 * state was cleared): the slot is marked dead so that a later thread whose TCB
 * lands at the same address registers afresh instead of inheriting bounds.
 *   out: x0 = 1 if a slot was released, 0 if none was found.
 *   A slot that dies with depth > 0 leaves the count of threads inside
 *   scopes (ss_heap_active).
 *   clobbers: x0, x1, x9-x13, flags.
 */
FUNC ss_forget_thread
    PROLOGUE 16
    mov x1, x0                          /* x1 = tp                             */
    bl slot_find
    cbz x0, 1f
    str xzr, [x0, #SLOT_FLAGS]
    ldr x9, [x0, #SLOT_DEPTH]
    cbz x9, 2f
    ATOMIC_ADD ss_heap_active, 0, #-1, x10, x11, w12   /* it ended inside a scope (abnormal) */
2:  str xzr, [x0, #SLOT_DEPTH]
    orr x1, x1, #1
    stlr x1, [x0]                       /* key (SLOT_KEY = 0): dead, after the fields (release) */
    mov x0, #1
1:  RETURN 16
ENDFUNC ss_forget_thread

/*
 * void ss_reset_after_fork(void)                             [ctypes]
 *
 * In a fork child only the calling thread exists: every other slot is marked
 * dead, and the caller's depth is kept (fork may happen inside a scope);
 * slots that were inside a scope leave the count ss_heap_active.
 *   clobbers: x0, x9-x14, flags.  Leaf.
 */
FUNC ss_reset_after_fork
    PROLOGUE 16
    mrs x0, tpidr_el0
    bl slot_find
    cbz x0, 4f
    mov x9, #-1
    str x9, [x0, #SLOT_FAULTS]          /* the child counts its own page faults */
4:  mrs x0, tpidr_el0
    adrp x9, ss_slots
    add x9, x9, #:lo12:ss_slots
    mov x10, #SLOT_COUNT
1:  ldr x11, [x9, #SLOT_KEY]
    cbz x11, 2f
    tbnz x11, #0, 2f
    cmp x11, x0
    b.eq 2f
    str xzr, [x9, #SLOT_FLAGS]
    ldr x12, [x9, #SLOT_DEPTH]
    cbz x12, 3f
    ATOMIC_ADD ss_heap_active, 0, #-1, x12, x13, w14   /* that thread does not exist here */
3:  str xzr, [x9, #SLOT_DEPTH]
    orr x11, x11, #1
    stlr x11, [x9]
2:  add x9, x9, #SLOT_SIZE
    subs x10, x10, #1
    b.ne 1b
    RETURN 16
ENDFUNC ss_reset_after_fork

/*
 * uint64_t ss_thread_scans(uint64_t *recorded)               [ctypes]
 *   out: x0 = scopes of the calling thread whose stack erasure scanned with
 *        mincore; *recorded = scopes that zeroed the recorded pages instead
 *        (stack.S).  Both 0 for a thread that has no slot.
 */
FUNC ss_thread_scans
    PROLOGUE 16
    mov x1, x0                          /* x1 = recorded (slot_find keeps it)   */
    mrs x0, tpidr_el0
    bl slot_find
    mov x2, #0
    cbz x0, 1f
    ldr x2, [x0, #SLOT_N_RECORDED]
    ldr x0, [x0, #SLOT_N_SCANS]
1:  str x2, [x1]
    RETURN 16
ENDFUNC ss_thread_scans

/*
 * uint64_t ss_thread_depth(void)                    [ctypes; heap.S calls it]
 *   out: x0 = number of scopes active on the calling thread (0 without a slot).
 *   clobbers: x0, x9-x13, flags (slot_find's).  x1-x8 are preserved.
 */
FUNC ss_thread_depth
    PROLOGUE 16
    mrs x0, tpidr_el0
    bl slot_find
    cbz x0, 1f
    ldr x0, [x0, #SLOT_DEPTH]
1:  RETURN 16
ENDFUNC ss_thread_depth

/*
 * PyObject *ss_enabled(PyObject *self, PyObject *unused)     [METH_NOARGS]
 *
 * secretscope.enabled(): True while a scope is active on the calling thread.
 *   out: x0 = new reference to True or False.
 */
FUNC ss_enabled
    PROLOGUE 16
    mrs x0, tpidr_el0
    bl slot_find
    cbz x0, 1f
    ldr x0, [x0, #SLOT_DEPTH]
    cmp x0, #0
    cset x0, ne
1:  EPILOGUE 16
    LDR_GLOBAL x16, ss_api, API_BOOL_FROM_LONG
    br x16                              /* tail call: PyBool_FromLong          */
ENDFUNC ss_enabled

GNU_PROPERTY_NOTES
