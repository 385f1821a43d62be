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

/* an entry's layout: PARK_* in interface.inc (secretscope/_interface.py) */
    .bss
    .p2align 6
    LOCAL_ZEROED_OBJECT ss_parked, SLOT_COUNT*PARK_SIZE

/* \out = the ss_parked entry of slot \slot (same index).  Clobbers \tmp. */
.macro PARK_ENTRY slot, out, tmp
    lea ss_slots(%rip), \tmp
    mov \slot, \out
    sub \tmp, \out
    shr $SLOT_SHIFT, \out
    shl $PARK_SHIFT, \out
    lea ss_parked(%rip), \tmp
    add \tmp, \out
.endm

    .text
/*
 * uint64_t ss_greenlet_entry(uint64_t reset)                 [ctypes]
 *
 * The calling thread's ss_parked entry, claimed for it: its count is zeroed
 * when reset is non-zero (a thread's registration) or when the entry was
 * another thread's.  Records the slot's address in it.
 *   out: rax = the entry's address, or 0 when the thread has no slot.
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8, flags.
 */
FUNC ss_greenlet_entry
    mov %rdi, %r8                      /* r8 = reset (slot_find keeps it)       */
    mov %fs:0, %rdi
    call slot_find                     /* keeps rdi = tp                        */
    test %rax, %rax
    jz 1f
    PARK_ENTRY %rax, %rdx, %rcx
    cmp %rdi, PARK_KEY(%rdx)
    jne 2f
    test %r8, %r8
    jz 3f
2:  movq $0, PARK_COUNT(%rdx)
    mov %rdi, PARK_KEY(%rdx)
3:  mov %rax, PARK_SLOT(%rdx)
    mov %rdx, %rax
1:  ret
ENDFUNC ss_greenlet_entry

/*
 * PyObject *ss_enabled_exact(PyObject *self, PyObject *unused) [METH_NOARGS]
 *
 * secretscope.enabled(): True while a scope of the running greenlet (or of
 * the thread, without greenlets) is active: the slot's depth exceeds the
 * thread's parked count.
 *   out: rax = new reference to True or False.
 */
FUNC ss_enabled_exact
    mov %fs:0, %rdi
    call slot_find                     /* keeps rdi = tp                        */
    xor %r8d, %r8d                     /* r8 = result                           */
    test %rax, %rax
    jz 1f
    mov SLOT_DEPTH(%rax), %rsi         /* rsi = scopes open on this thread      */
    PARK_ENTRY %rax, %rdx, %rcx
    cmp %rdi, PARK_KEY(%rdx)
    jne 2f
    cmp PARK_COUNT(%rdx), %rsi
    seta %r8b                          /* depth > parked (unsigned)             */
    jmp 1f
2:  test %rsi, %rsi
    setne %r8b
1:  mov %r8, %rdi
    jmp *(ss_api + API_BOOL_FROM_LONG)(%rip)   /* tail call: PyBool_FromLong */
ENDFUNC ss_enabled_exact

GNU_PROPERTY_NOTES
