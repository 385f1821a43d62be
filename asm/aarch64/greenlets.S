/*
 * greenlets.S — scopes of greenlets suspended on a thread (issue 13).
 *
 * A greenlet switch keeps the OS thread, so every greenlet running on a
 * thread shares its slot (threads.S).  The slot's depth counts every scope
 * open on the thread, those of suspended greenlets included: the heap keeps
 * recording while any of them is open (greenlet copies a suspended
 * greenlet's stack slice to the heap, possibly during another greenlet's
 * switch, and that copy must be zeroed when it is freed).  How many of them
 * belong to suspended greenlets is this thread's parked count, kept by
 * secretscope/_greenlets.py's switch hook; `enabled()` (ss_enabled_exact)
 * reports the running greenlet's own scopes: depth - parked.
 *
 * ss_parked has one entry per slot (same index); an entry holds the thread
 * pointer it was claimed for, so a slot reused by another thread never
 * inherits a parked count.
 */
.include "common.inc"
.include "macros.inc"

/* an entry's layout: PARK_* in interface.inc (secretscope/_interface.py) */
    .bss
    .p2align 6
    LOCAL_ZEROED_OBJECT ss_parked, SLOT_COUNT*PARK_SIZE

/* \out = the ss_parked entry of slot \slot (same index).  Clobbers \tmp. */
.macro PARK_ENTRY slot, out, tmp
    adrp \tmp, ss_slots
    add \tmp, \tmp, #:lo12:ss_slots
    sub \out, \slot, \tmp
    lsr \out, \out, #SLOT_SHIFT
    adrp \tmp, ss_parked
    add \tmp, \tmp, #:lo12:ss_parked
    add \out, \tmp, \out, lsl #PARK_SHIFT
.endm

    .text
/*
 * uint64_t ss_greenlet_entry(uint64_t reset)                 [ctypes]
 *
 * The calling thread's ss_parked entry, claimed for it: its count is zeroed
 * when reset is non-zero (a thread's registration) or when the entry was
 * another thread's.  Records the slot's address in it.
 *   out: x0 = the entry's address, or 0 when the thread has no slot.
 *   clobbers: x0-x4, x9-x13, flags.
 */
FUNC ss_greenlet_entry
    ENTER 32, x19
    mov x19, x0                         /* x19 = reset                          */
    mrs x0, tpidr_el0
    bl slot_find                        /* x0 = slot or 0                       */
    cbz x0, .Lentry_out
    PARK_ENTRY x0, x1, x2
    mrs x3, tpidr_el0
    ldr x4, [x1, #PARK_KEY]
    cmp x4, x3
    b.ne .Lentry_new_key
    cbz x19, .Lentry_slot
.Lentry_new_key:
    str xzr, [x1, #PARK_COUNT]
    str x3, [x1, #PARK_KEY]
.Lentry_slot:
    str x0, [x1, #PARK_SLOT]
    mov x0, x1
.Lentry_out:
    LEAVE_RETURN 32, x19
ENDFUNC ss_greenlet_entry

/*
 * PyObject *ss_enabled_exact(PyObject *self, PyObject *unused) [METH_NOARGS]
 *
 * secretscope.enabled(): True while a scope of the running greenlet (or of
 * the thread, without greenlets) is active: the slot's depth exceeds the
 * thread's parked count.
 *   out: x0 = new reference to True or False.
 */
FUNC ss_enabled_exact
    PROLOGUE 16
    mrs x0, tpidr_el0
    bl slot_find
    cbz x0, .Lexact_out
    ldr x5, [x0, #SLOT_DEPTH]           /* x5 = scopes open on this thread      */
    PARK_ENTRY x0, x1, x2
    mrs x3, tpidr_el0
    ldr x4, [x1, #PARK_KEY]
    cmp x4, x3
    b.ne .Lexact_not_parked
    ldr x6, [x1, #PARK_COUNT]
    cmp x5, x6
    cset x0, hi                         /* depth > parked (unsigned)            */
    b .Lexact_out
.Lexact_not_parked:
    cmp x5, #0
    cset x0, ne
.Lexact_out:
    EPILOGUE 16
    LDR_GLOBAL x16, ss_api, API_BOOL_FROM_LONG
    br x16                              /* tail call: PyBool_FromLong           */
ENDFUNC ss_enabled_exact

GNU_PROPERTY_NOTES
