/*
 * stack.S — erase every byte of the thread's stack below the caller.
 *
 * What the scope's function could have written is exactly the part of the
 * thread's stack below the trampoline's stack pointer.  Pages there that are
 * not resident (mincore) were never written since they were last given back
 * to the kernel, so they hold nothing; every resident page is zeroed, with
 * `rep stosq` (no register ever holds stack data).  Resident pages deeper
 * than TRIM_DEPTH are then returned with MADV_DONTNEED after zeroing, so the
 * next scope finds them non-resident: the zeroing work stays proportional to
 * the depth actually used, and mincore itself skips page-table-less ranges
 * in the kernel at 2 MiB granularity.
 *
 * Platform assumptions, spelled out:
 *  - a thread's stack is [SLOT_LOW, SLOT_HIGH) as registered by _threads.py
 *    (pthread_getattr_np for threads, /proc/self/maps for the main thread);
 *  - the main thread's [stack] mapping grows down on demand and never shrinks;
 *    the kernel keeps a guard gap (stack_guard_gap, 1 MiB by default) below it
 *    in which nothing is mapped, and it never grows below SLOT_FLOOR;
 *  - swapped-out pages are reported non-resident by mincore and are not
 *    covered (see docs/guarantees.md).
 */
.include "common.inc"

.equ GROW_STEP_MAX, (256 * 1024) /* below the 1 MiB default guard gap       */

    .text
/*
 * scrub_stack                                            [internal, leaf]
 *
 *   in:  rdi = this thread's slot
 *        rsi = mincore vector: VEC_BYTES bytes in the caller's frame (above
 *              the region being erased)
 *        the region erased is [SLOT_LOW, rsp): everything below this
 *        routine's return address
 *   out: rax = 0, or -errno if mincore failed (nothing sane can be done:
 *        the caller reports the error); the main thread's SLOT_LOW is moved
 *        down if its stack grew
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8-r11, r13-r15, flags.  Uses no
 *        stack beyond its return address (and those of page_mapped), and holds
 *        no stack data in registers.
 */
LOCALFUNC scrub_stack
    mov %rdi, %r8                      /* r8 = slot                             */
    mov %rsi, %r9                      /* r9 = mincore vector                   */

    /* 1. the partial page we are standing on: [page start, rsp) */
    mov %rsp, %r10
    and $PAGE_MASK, %r10               /* r10 = top: first page below is full   */
    mov %r10, %rdi
    mov %rsp, %rcx
    sub %r10, %rcx
    xor %eax, %eax
    rep stosb

    /* 2. main thread: did the stack mapping grow below the known low end? */
    testq $SLOTF_GROWSDOWN, SLOT_FLAGS(%r8)
    jz .Lscan
    mov SLOT_LOW(%r8), %rdi
    sub $PAGE_SIZE, %rdi               /* the page just below the known low end */
    cmp SLOT_FLOOR(%r8), %rdi
    jb .Lscan
    call page_mapped
    jnz .Lscan                         /* unmapped: no growth (common case)     */
    /* grew: walk down in doubling steps (never more than GROW_STEP_MAX, so a
     * step cannot jump over the guard gap), then bisect to the exact page */
    mov %rdi, %r13                     /* r13 = lowest page known mapped        */
    mov $PAGE_SIZE, %r14               /* r14 = step                            */
.Lgrow_down:
    mov %r13, %rdi
    sub %r14, %rdi
    cmp SLOT_FLOOR(%r8), %rdi
    jae 1f
    mov SLOT_FLOOR(%r8), %rdi          /* clamp to the floor                    */
1:  cmp %r13, %rdi
    je .Lgrown                         /* r13 is the floor already              */
    call page_mapped
    jnz .Lbisect                       /* rdi unmapped: the end lies in between */
    mov %rdi, %r13
    shl $1, %r14
    cmp $GROW_STEP_MAX, %r14
    jbe .Lgrow_down
    mov $GROW_STEP_MAX, %r14
    jmp .Lgrow_down
.Lbisect:
    mov %rdi, %r15                     /* r15 = highest page known unmapped     */
2:  mov %r13, %rdi
    sub %r15, %rdi
    cmp $PAGE_SIZE, %rdi
    jbe .Lgrown                        /* adjacent: r13 is the lowest mapped    */
    shr $1, %rdi
    and $PAGE_MASK, %rdi
    add %r15, %rdi                     /* rdi = midpoint page                   */
    call page_mapped
    jnz 3f
    mov %rdi, %r13
    jmp 2b
3:  mov %rdi, %r15
    jmp 2b
.Lgrown:
    mov %r13, SLOT_LOW(%r8)

.Lscan:
    /* 3. full pages [low, top), from the top down, VEC_BYTES pages a call */
    mov SLOT_LOW(%r8), %r13            /* r13 = low                             */
    mov %r10, %r14
    sub $TRIM_DEPTH, %r14              /* r14 = trim line                       */
    movq $0, SLOT_DEEP(%r8)            /* deep pages found (main thread)        */
.Lchunk:
    cmp %r13, %r10
    jbe .Ldone
    mov %r10, %rsi
    sub %r13, %rsi                     /* rsi = bytes left                      */
    cmp $(VEC_BYTES * PAGE_SIZE), %rsi
    jbe 4f
    mov $(VEC_BYTES * PAGE_SIZE), %esi
4:  mov %r10, %rdi
    sub %rsi, %rdi                     /* rdi = chunk low                       */
    mov %rdi, %r10                     /* the next chunk ends here              */
    mov %r9, %rdx
    mov $SYS_mincore, %eax
    syscall                            /* clobbers rcx, r11                     */
    test %rax, %rax
    jnz .Lout                          /* -errno                                */
    shr $12, %rsi                      /* rsi = pages in this chunk             */
    mov %rsi, %r11                     /* r11 = page index + 1, counting down   */
    xor %r15d, %r15d                   /* r15 = lowest resident page below trim */
.Lpage:
    cmp $8, %r11                       /* eight pages at once when none is      */
    jb 8f                              /* resident (vector bytes are 0 or 1)    */
    cmpq $0, -8(%r9, %r11)
    jne 8f
    sub $8, %r11
    jnz .Lpage
    jmp 9f
8:  testb $1, -1(%r9, %r11)            /* resident?                             */
    jz 5f
    lea -1(%r11), %rdi
    shl $12, %rdi
    add %r10, %rdi                     /* rdi = page address                    */
    cmp %r14, %rdi
    jae 6f
    mov %rdi, %r15                     /* below the trim line: give back later  */
6:  mov $(PAGE_SIZE / 8), %ecx
    xor %eax, %eax
    rep stosq
5:  dec %r11
    jnz .Lpage
9:
    test %r15, %r15
    jz .Lchunk
    testq $SLOTF_GROWSDOWN, SLOT_FLAGS(%r8)
    jz 10f
    movq $1, SLOT_DEEP(%r8)            /* main thread: unmapped below, see 5.   */
    jmp .Lchunk
10:
    /* 4. return the zeroed deep pages: [r15, min(chunk end, trim line));
     *    a failure only costs speed, so its result is ignored */
    mov %rsi, %rax
    shl $12, %rax
    add %r10, %rax                     /* rax = chunk end (rsi = page count)    */
    cmp %r14, %rax
    jbe 7f
    mov %r14, %rax
7:  mov %r15, %rdi
    mov %rax, %rsi
    sub %rdi, %rsi
    mov $MADV_DONTNEED, %edx
    mov $SYS_madvise, %eax
    syscall
    jmp .Lchunk
.Ldone:
    /* 5. main thread after a deep scope: everything below the trim line is zero;
     *    unmap it.  The [stack] mapping grows back on demand, and unmapping also
     *    frees its page tables, which mincore would otherwise walk on every
     *    later scope.  A failure only costs speed. */
    cmpq $0, SLOT_DEEP(%r8)
    je 11f
    mov %r13, %rdi
    cmp %r14, %rdi
    jae 11f
    mov %r14, %rsi
    sub %rdi, %rsi
    mov $SYS_munmap, %eax
    syscall
    test %rax, %rax
    jnz 11f
    mov %r14, SLOT_LOW(%r8)
11: xor %eax, %eax
.Lout:
    ret
ENDFUNC scrub_stack

/*
 * page_mapped                                            [internal, leaf]
 *   in:  rdi = page address, r9 = a vector of at least one byte
 *   out: ZF set if the page is mapped (mincore succeeded), clear if not
 *   clobbers: rax, rcx, rdx, rsi, r11, flags.
 */
LOCALFUNC page_mapped
    mov $PAGE_SIZE, %esi
    mov %r9, %rdx
    mov $SYS_mincore, %eax
    syscall
    test %rax, %rax
    ret
ENDFUNC page_mapped

GNU_PROPERTY_NOTES
