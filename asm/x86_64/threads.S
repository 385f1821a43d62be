/*
 * threads.S — per-thread state: scope depth and stack bounds.
 *
 * A thread is identified by its thread pointer, the word at %fs:0 (the x86-64
 * TLS ABI requires the TCB to start with a pointer to itself; glibc and musl
 * both do).  It is one load, needs no libc and no TLS relocation.
 *
 * ss_slots is an open-addressing table of SLOT_COUNT cache-line slots.  A slot's
 * key is written only by a compare-and-swap that claims it (0 or dead -> tp) or
 * by the owner marking it dead (tp -> tp|1) when its thread ends.  Every other
 * field is written only by the owning thread (or by registration, which runs on
 * the owning thread too), so lookups need no locks.  Lookups probe from the
 * hash of tp and stop at a never-used key (0); dead keys are skipped and may be
 * reclaimed by a new thread.
 */
.include "common.inc"

.include "threads.data.inc"          /* asm/shared: the data, both arches */

    .text

/*
 * slot_find — find the live slot of thread pointer rdi.     [internal, leaf]
 *   in:  rdi = thread pointer
 *   out: rax = slot address, or 0 when this thread has none
 *   clobbers: rax, rcx, rdx, rsi, flags.  Uses no stack.
 */
LOCALFUNC slot_find
    movabs $0x9e3779b97f4a7c15, %rax   /* Fibonacci hashing of tp             */
    imul %rdi, %rax
    shr $(64 - SLOT_BITS), %rax        /* rax = first index                   */
    lea ss_slots(%rip), %rsi
    mov $SLOT_COUNT, %ecx              /* rcx = probes left                   */
1:  mov %rax, %rdx
    shl $SLOT_SHIFT, %rdx
    add %rsi, %rdx                     /* rdx = &slots[index]                 */
    cmp %rdi, SLOT_KEY(%rdx)
    je 2f
    cmpq $0, SLOT_KEY(%rdx)            /* never used: the probe chain ends    */
    je 3f
    inc %eax
    and $(SLOT_COUNT - 1), %eax
    dec %ecx
    jnz 1b
3:  xor %eax, %eax
    ret
2:  mov %rdx, %rax
    ret
ENDFUNC slot_find

/*
 * slot_claim — give thread pointer rdi a fresh slot.         [internal, leaf]
 *   Only called after slot_find returned 0 for the same thread, so the
 *   thread has no live slot and cannot race with itself.
 *   in:  rdi = thread pointer
 *   out: rax = slot address (fields other than key zeroed), or 0 if full
 *   clobbers: rax, rcx, rdx, rsi, r8, flags.  Uses no stack.
 */
LOCALFUNC slot_claim
    movabs $0x9e3779b97f4a7c15, %r8
    imul %rdi, %r8
    shr $(64 - SLOT_BITS), %r8         /* r8 = index                          */
    lea ss_slots(%rip), %rsi
    mov $SLOT_COUNT, %ecx
1:  mov %r8, %rdx
    shl $SLOT_SHIFT, %rdx
    add %rsi, %rdx
    mov SLOT_KEY(%rdx), %rax           /* rax = expected key for the CAS      */
    test %rax, %rax
    jz 2f                              /* never used                          */
    test $1, %al
    jnz 2f                             /* dead: its thread has ended          */
3:  inc %r8d
    and $(SLOT_COUNT - 1), %r8d
    dec %ecx
    jnz 1b
    xor %eax, %eax
    ret
2:  lock cmpxchg %rdi, SLOT_KEY(%rdx)  /* claim it unless another thread did  */
    jne 3b
    movq $0, SLOT_DEPTH(%rdx)
    movq $0, SLOT_LOW(%rdx)
    movq $0, SLOT_HIGH(%rdx)
    movq $0, SLOT_FLOOR(%rdx)
    movq $0, SLOT_FLAGS(%rdx)
    movq $-1, SLOT_FAULTS(%rdx)         /* nothing recorded: scan fully         */
    movq $0, SLOT_SKIP(%rdx)           /* and SLOT_STREAK                      */
    movq $0, SLOT_TRIM_SKIP(%rdx)      /* and SLOT_TRIM_STREAK                 */
    movq $0, SLOT_RSEQ(%rdx)
    movq $0, SLOT_N_SCANS(%rdx)
    movq $0, SLOT_N_RECORDED(%rdx)
    movq $0, SLOT_DEEP_SKIP(%rdx)      /* and SLOT_DEEP_STREAK                 */
    movq $0, SLOT_BLOCK(%rdx)          /* (a dead thread's blocks are leaked)  */
    mov %rdx, %rax
    ret
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
 * And it finds the thread's rseq area (signals.S), when glibc registered one.
 *   in:  rdi = lowest mapped stack address, rsi = stack top (exclusive),
 *        rdx = floor (lowest address a grow-down stack may reach),
 *        rcx = SLOTF_* flags (SLOTF_REGISTERED is added)
 *   out: rax = the thread pointer (the key), or 0 if the table is full
 *   clobbers: caller-saved registers.
 */
FUNC ss_register_thread
    PUSH_RBX_R12_R13
    mov %rdi, %r12                     /* r12 = low                            */
    mov %rsi, %r13                     /* r13 = high                           */
    mov %rdx, %r11                     /* r11 = floor                          */
    mov %rcx, %rbx                     /* rbx = flags (slot_claim needs rcx)   */
    mov %fs:0, %rdi
    call slot_find
    test %rax, %rax
    jnz 1f
    call slot_claim
    test %rax, %rax
    jz 2f
1:  mov %r12, SLOT_LOW(%rax)
    mov %r13, SLOT_HIGH(%rax)
    mov %r11, SLOT_FLOOR(%rax)
    movq $-1, SLOT_FAULTS(%rax)        /* new bounds: the next scope scans      */
    movq $0, SLOT_SKIP(%rax)           /* and SLOT_STREAK                      */
    movq $0, SLOT_TRIM_SKIP(%rax)      /* and SLOT_TRIM_STREAK                 */
    or $SLOTF_REGISTERED, %rbx
    mov %rax, %r8                      /* r8 = slot (the syscall keeps r8)      */
    mov %r12, %rdi
    mov %r13, %rsi
    sub %rdi, %rsi
    mov $MADV_NOHUGEPAGE, %edx
    mov $SYS_madvise, %eax
    syscall
    test %rax, %rax
    jz 3f
    cmp $-EINVAL, %rax
    je 3f
    or $SLOTF_NOFAST, %rbx
3:  mov %rbx, SLOT_FLAGS(%r8)
    call rseq_area                     /* rax = this thread's struct rseq or 0  */
    mov %rax, SLOT_RSEQ(%r8)
    mov %fs:0, %rax
2:  POP_RBX_R12_R13
    ret
ENDFUNC ss_register_thread

/*
 * int ss_forget_thread(uint64_t tp)                          [ctypes]
 *
 * Called when the thread whose pointer is tp has ended (its Python thread
 * state was cleared): the slot is marked dead so that a later thread whose TCB
 * lands at the same address registers afresh instead of inheriting bounds.
 *   out: rax = 1 if a slot was released, 0 if none was found.
 */
FUNC ss_forget_thread
    call slot_find
    test %rax, %rax
    jz 1f
    movq $0, SLOT_FLAGS(%rax)
    cmpq $0, SLOT_DEPTH(%rax)
    je 2f
    lock decq ss_heap_active(%rip)     /* it ended inside a scope (abnormal)   */
2:  movq $0, SLOT_DEPTH(%rax)
    or $1, %rdi
    mov %rdi, SLOT_KEY(%rax)           /* dead; x86 stores are release-ordered */
    mov $1, %eax
1:  ret
ENDFUNC ss_forget_thread

/*
 * void ss_reset_after_fork(void)                             [ctypes]
 *
 * In a fork child only the calling thread exists: every other slot is marked
 * dead, and the caller's depth is kept (fork may happen inside a scope).
 */
FUNC ss_reset_after_fork
    mov %fs:0, %r8
    mov %r8, %rdi
    call slot_find
    test %rax, %rax
    jz 4f
    movq $-1, SLOT_FAULTS(%rax)        /* the child counts its own page faults */
4:
    lea ss_slots(%rip), %rsi
    mov $SLOT_COUNT, %ecx
1:  mov SLOT_KEY(%rsi), %rax
    test %rax, %rax
    jz 2f
    test $1, %al
    jnz 2f
    cmp %r8, %rax
    je 2f
    movq $0, SLOT_FLAGS(%rsi)
    cmpq $0, SLOT_DEPTH(%rsi)
    je 3f
    lock decq ss_heap_active(%rip)     /* that thread does not exist here      */
3:  movq $0, SLOT_DEPTH(%rsi)
    or $1, %rax
    mov %rax, SLOT_KEY(%rsi)
2:  add $SLOT_SIZE, %rsi
    dec %ecx
    jnz 1b
    ret
ENDFUNC ss_reset_after_fork

/*
 * uint64_t ss_thread_depth(void)                             [ctypes]
 *   out: rax = number of scopes active on the calling thread.
 */
FUNC ss_thread_depth
    mov %fs:0, %rdi
    call slot_find
    test %rax, %rax
    jz 1f
    mov SLOT_DEPTH(%rax), %rax
1:  ret
ENDFUNC ss_thread_depth

/*
 * uint64_t ss_thread_scans(uint64_t *recorded)               [ctypes]
 *   out: rax = scopes of the calling thread whose stack erasure scanned with
 *        mincore; *recorded = scopes that zeroed the recorded pages instead
 *        (stack.S).  Both 0 for a thread that has no slot.
 */
FUNC ss_thread_scans
    mov %rdi, %r8
    mov %fs:0, %rdi
    call slot_find
    xor %edx, %edx
    test %rax, %rax
    jz 1f
    mov SLOT_N_RECORDED(%rax), %rdx
    mov SLOT_N_SCANS(%rax), %rax
1:  mov %rdx, (%r8)
    ret
ENDFUNC ss_thread_scans

/*
 * PyObject *ss_enabled(PyObject *self, PyObject *unused)     [METH_NOARGS]
 *
 * secretscope.enabled(): True while a scope is active on the calling thread.
 *   out: rax = new reference to True or False.
 */
FUNC ss_enabled
    mov %fs:0, %rdi
    call slot_find
    xor %edi, %edi
    test %rax, %rax
    jz 1f
    cmpq $0, SLOT_DEPTH(%rax)
    setne %dil
1:  jmp *(ss_api + API_BOOL_FROM_LONG)(%rip)   /* tail call: PyBool_FromLong */
ENDFUNC ss_enabled

GNU_PROPERTY_NOTES
