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
 * Skipping the scan.  A full scan ends with a known state: below its top T,
 * the pages recorded in SLOT_REC_MASK (at most TRIM_DEPTH / PAGE_SIZE, all
 * within TRIM_DEPTH of T) are resident and zero, and no other page is
 * resident.  A page becomes resident only through a page fault, and the
 * kernel counts every fault of every thread of the process (ru_minflt +
 * ru_majflt of getrusage(RUSAGE_SELF): faults taken in user or kernel mode,
 * and by get_user_pages on this process's behalf).  So when the count read at
 * the end of a later scope equals the count read just before that scan, and
 * the scope's top is not above T, the resident pages below the top are among
 * the recorded ones: zeroing those is exact, and the ~1 µs mincore (plus, on
 * the main thread, the growth probe) is not needed.  One cheaper system call
 * replaces them.  The count is process-wide, not per thread, because another
 * thread may legitimately write into a buffer in this thread's frames (a
 * pool filling a caller's stack array); its fault is counted too.  When the
 * check keeps failing (other threads fault all the time), it is skipped for
 * an exponentially growing number of scopes, so a busy process pays little
 * more than the scan.
 *
 * Platform assumptions, spelled out:
 *  - a thread's stack is [SLOT_LOW, SLOT_HIGH) as registered by _threads.py
 *    (pthread_getattr_np for threads, /proc/self/maps for the main thread);
 *  - the main thread's [stack] mapping grows down on demand and never shrinks;
 *    the kernel keeps a guard gap (stack_guard_gap, 1 MiB by default) below it
 *    in which nothing is mapped, and it never grows below SLOT_FLOOR;
 *  - swapped-out pages are reported non-resident by mincore and are not
 *    covered (see docs/guarantees.md);
 *  - no page of a thread's stack becomes resident without a page fault
 *    counted in this process: khugepaged is kept away by MADV_NOHUGEPAGE
 *    (threads.S); writes by other processes (ptrace, process_vm_writev) and
 *    kernel threads acting on this memory are not counted, and are outside
 *    the guarantee (docs/guarantees.md).
 */
.include "common.inc"
.include "sequences.inc"

.equ RSEQ_CS, 8 /* struct rseq: u64 rseq_cs (signals.S) */

.equ GROW_STEP_MAX, (256 * 1024) /* below the 1 MiB default guard gap       */
.equ IDLE_RUNS_MAX, 4 /* madvise calls a scope may spend on idle pages      */

/* Take the lowest set bit j out of r11 (recorded pages below r10, bit j = the
 * page j+1 pages below r10): rcx = j, rdi = that page.  r11 must be non-zero. */
.macro NEXT_RECORDED_PAGE
    bsf %r11, %rcx
    btr %rcx, %r11
    lea 1(%rcx), %rdi
    shl $PAGE_SHIFT, %rdi
    neg %rdi
    add %r10, %rdi
.endm

/* The last scope gave pages back (\flag): if faults came since (rdx, the
 * count now, differs from rax, the recorded one), back off giving them back;
 * if not, forget past misses.  Nothing to say when nothing is recorded
 * (rax = -1).  Clears \flag.  Preserves rax and rdx; clobbers rcx, r11. */
.macro TRIM_VERDICT flag, skip, streak
    testq $\flag, SLOT_FLAGS(%r8)
    jz 9993f
    andq $~\flag, SLOT_FLAGS(%r8)
    cmp $-1, %rax
    je 9993f
    cmp %rax, %rdx
    je 9992f
    mov %rax, %r11                     /* (BACKOFF_MISS clobbers rax, rcx)      */
    BACKOFF_MISS %r8, \skip, \streak, 10
    mov %r11, %rax
    jmp 9993f
9992:
    movl $0, \streak(%r8)
9993:
.endm

    .text
/*
 * scrub_stack                                            [internal, leaf]
 *
 *   in:  rdi = this thread's slot
 *        rsi = mincore vector: VEC_BYTES bytes off the stack (the slot's,
 *              SLOT_VECTOR)
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

    /* 1b. can the scan be skipped?  rdx = the process's fault count, or -1 */
    mov $-1, %rdx
    testq $SLOTF_NOFAST, SLOT_FLAGS(%r8)
    jnz .Lfull
    cmpl $0, SLOT_SKIP(%r8)
    je 1f
    decl SLOT_SKIP(%r8)                /* backing off: scan, record nothing     */
    jmp .Lfull
1:  mov $RUSAGE_SELF, %edi
    mov %r9, %rsi                      /* struct rusage in the vector's place   */
    mov $SYS_getrusage, %eax
    syscall                            /* clobbers rcx, r11                     */
    test %rax, %rax
    jnz .Lfull                         /* (cannot fail) scan, record nothing    */
    mov RU_MINFLT(%r9), %rdx
    add RU_MAJFLT(%r9), %rdx           /* rdx = faults so far                   */
    mov SLOT_FAULTS(%r8), %rax
    /* Did giving pages back in the last scope cost page faults since?  Idle
     * pages: those written with zeros look idle, and come back at once; deep
     * pages: a scope that keeps going as deep faults them all in again (~2 us
     * a page here).  Then keep them for 1, 3, 7 ... 1023 scopes. */
    TRIM_VERDICT SLOTF_TRIMMED, SLOT_TRIM_SKIP, SLOT_TRIM_STREAK
    TRIM_VERDICT SLOTF_DEEP_TRIMMED, SLOT_DEEP_SKIP, SLOT_DEEP_STREAK
    cmp $-1, %rax
    je .Lfull                          /* nothing recorded yet                  */
    cmp %rax, %rdx
    jne .Lmissed
    cmp SLOT_REC_TOP(%r8), %r10
    ja .Lfull                          /* called from higher up: pages unknown  */
    movl $0, SLOT_STREAK(%r8)
    incq SLOT_N_RECORDED(%r8)
    jmp .Lrecorded
.Lmissed:
    /* faults happened: scan; if that keeps happening, stop asking for a
     * while (1, 3, 7, ... 63 scopes) */
    BACKOFF_MISS %r8, SLOT_SKIP, SLOT_STREAK, 6

.Lfull:
    incq SLOT_N_SCANS(%r8)
    andq $~SLOTF_KEEP_DEEP, SLOT_FLAGS(%r8)
    cmpl $0, SLOT_DEEP_SKIP(%r8)
    je 6f
    decl SLOT_DEEP_SKIP(%r8)           /* backing off: deep pages stay          */
    orq $SLOTF_KEEP_DEEP, SLOT_FLAGS(%r8)
6:
    mov %rdx, SLOT_PENDING(%r8)        /* recorded at the end if all went well  */
    movq $-1, SLOT_FAULTS(%r8)         /* until then nothing is known           */
    mov %r10, SLOT_REC_TOP(%r8)
    movq $0, SLOT_REC_MASK(%r8)

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
    jae 12f
    mov %rdi, %r15                     /* below the trim line: give back later  */
    jmp 6f
12: mov SLOT_REC_TOP(%r8), %rcx        /* within it: stays resident, recorded   */
    sub %rdi, %rcx
    shr $PAGE_SHIFT, %rcx
    dec %rcx                           /* rcx = page index below the top        */
    mov SLOT_REC_MASK(%r8), %rax
    bts %rcx, %rax
    mov %rax, SLOT_REC_MASK(%r8)
6:  mov $(PAGE_SIZE / 8), %ecx
    xor %eax, %eax
    rep stosq
5:  dec %r11
    jnz .Lpage
9:
    test %r15, %r15
    jz .Lchunk
    testq $SLOTF_KEEP_DEEP, SLOT_FLAGS(%r8)
    jz 23f
    movq $-1, SLOT_PENDING(%r8)        /* resident below the record: no record  */
    jmp .Lchunk
23: testq $SLOTF_GROWSDOWN, SLOT_FLAGS(%r8)
    jz 10f
    movq $1, SLOT_DEEP(%r8)            /* main thread: unmapped below, see 5.   */
    jmp .Lchunk
10:
    /* 4. return the zeroed deep pages: [r15, min(chunk end, trim line));
     *    if that fails they stay resident, zero, and nothing is recorded */
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
    test %rax, %rax
    jnz 24f
    orq $SLOTF_DEEP_TRIMMED, SLOT_FLAGS(%r8)
    jmp .Lchunk
24: movq $-1, SLOT_PENDING(%r8)        /* still resident: record nothing        */
    jmp .Lchunk
.Ldone:
    /* 5. main thread after a deep scope: everything below the trim line is zero;
     *    unmap it.  The [stack] mapping grows back on demand, and unmapping also
     *    frees its page tables, which mincore would otherwise walk on every
     *    later scope.  A failure leaves them resident, zero, and unrecorded. */
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
    jz 13f
    movq $-1, SLOT_PENDING(%r8)        /* still resident: record nothing        */
    jmp 11f
13: mov %r14, SLOT_LOW(%r8)
    orq $SLOTF_DEEP_TRIMMED, SLOT_FLAGS(%r8)
11: mov SLOT_PENDING(%r8), %rax
    mov %rax, SLOT_FAULTS(%r8)         /* the scan's knowledge holds from here  */
    xor %eax, %eax
.Lout:
    ret

.Lrecorded:
    /* 6. no fault since the last scan and not above its top: the recorded
     *    pages below the top are the only resident ones.  Bit i of the record
     *    is the page i+1 pages below REC_TOP; shifted by the distance to our
     *    top, bit j is the page j+1 pages below r10. */
    mov SLOT_REC_TOP(%r8), %rcx
    sub %r10, %rcx
    shr $PAGE_SHIFT, %rcx              /* rcx = pages between the two tops      */
    xor %eax, %eax
    cmp $63, %rcx
    ja .Lout                           /* all recorded pages lie above us       */
    mov %rcx, %r14                     /* r14 = that distance (the shift)       */
    mov SLOT_REC_MASK(%r8), %r11
    shr %cl, %r11                      /* r11 = recorded pages below r10        */
    /* Each was zero after the last scan: reading a page that is still zero
     * is cheaper than writing it, and a page nobody wrote since is idle: it
     * is given back (MADV_DONTNEED) so later scopes skip it.  Only when a
     * signal can be noticed (rseq, signals.S) and its frame is known to fit
     * the zone re-zeroed below; see .Lcheck_done. */
    cmpq $0, SLOT_RSEQ(%r8)
    je 14f
    testq $FEAT_ZEROCHECK, ss_features(%rip)
    jz 14f
    mov %r10, %rdx
    sub SLOT_LOW(%r8), %rdx
    cmp $(SIGFRAME_ZONE + PAGE_SIZE), %rdx
    jb 14f                             /* too close to the low end: just zero   */
    xor %r13d, %r13d                   /* r13 = pages found idle (bit j)        */
15: test %r11, %r11
    jz .Lcheck_done
    NEXT_RECORDED_PAGE                 /* rcx = j, rdi = its page               */
    mov %rcx, %rdx
    call page_is_zero
    jnz 17f
    bts %rdx, %r13                     /* idle                                  */
    jmp 15b
17: mov $(PAGE_SIZE / 8), %ecx
    xor %eax, %eax
    rep stosq
    jmp 15b
.Lcheck_done:
    vpxor %xmm0, %xmm0, %xmm0          /* the checked contents (VEX: whole ymm) */
    vpxor %xmm1, %xmm1, %xmm1
    vpxor %xmm2, %xmm2, %xmm2
    vpxor %xmm3, %xmm3, %xmm3
    /* A signal delivered during the check saved ymm0-3 in its frame: on the
     * alternate stack (signals.S erases it: it sees the same rseq state), or
     * right below us.  If one may have come, zero SIGFRAME_ZONE below rsp
     * (beyond the red zone and the largest frame, see common.inc). */
    mov SLOT_RSEQ(%r8), %rax
    lea rseq_descriptor(%rip), %rcx
    cmp %rcx, RSEQ_CS(%rax)
    je 18f
    lea -SIGFRAME_ZONE(%rsp), %rdi
    mov %rsp, %rcx
    sub %rdi, %rcx
    xor %eax, %eax
    rep stosb
18: /* Give idle pages back, one madvise per run of adjacent ones (at most
     * IDLE_RUNS_MAX a scope); the record forgets each page given back.  Not
     * while backing off (see 1b). */
    test %r13, %r13
    jz 16f
    cmpl $0, SLOT_TRIM_SKIP(%r8)
    je 22f
    decl SLOT_TRIM_SKIP(%r8)
    jmp 16f
22: mov $IDLE_RUNS_MAX, %r15d
19: test %r13, %r13
    jz 16f
    dec %r15d
    js 16f
    bsf %r13, %rcx                     /* j0: lowest bit = highest page of run  */
    mov %r13, %rdx
    not %rdx
    shr %cl, %rdx
    bsf %rdx, %rdx                     /* rdx = run length (a zero bit exists:  */
    jnz 20f                            /*  else the run reaches bit 63)         */
    mov $64, %edx
    sub %ecx, %edx
20: /* run = bits [j0, j0 + len): pages [r10 - (j0+len) pages, r10 - j0 pages) */
    mov %rdx, %rsi
    shl $PAGE_SHIFT, %rsi              /* rsi = run bytes                       */
    lea (%rcx, %rdx), %rdi
    shl $PAGE_SHIFT, %rdi
    neg %rdi
    add %r10, %rdi                     /* rdi = lowest page of the run          */
    mov $-1, %rax                      /* rax = run mask, bits [j0, j0 + len)   */
    cmp $64, %edx
    je 21f
    mov %edx, %ecx
    mov $1, %eax
    shl %cl, %rax
    dec %rax
21: bsf %r13, %rcx
    shl %cl, %rax
    not %rax
    and %rax, %r13                     /* done with this run                    */
    mov %rax, %r9                      /* r9 = ~run (the vector is not needed)  */
    mov $MADV_DONTNEED, %edx
    mov $SYS_madvise, %eax
    syscall
    mov %r9, %rdx
    test %rax, %rax
    jnz 19b                            /* still resident: stays recorded        */
    mov %r14, %rcx
    rol %cl, %rdx                      /* ~run in the record's bit numbering    */
    and %rdx, SLOT_REC_MASK(%r8)
    orq $SLOTF_TRIMMED, SLOT_FLAGS(%r8)
    jmp 19b
16: xor %eax, %eax
    jmp .Lout
14: test %r11, %r11
    jz .Lout
    NEXT_RECORDED_PAGE                 /* rcx = j, rdi = its page               */
    mov $(PAGE_SIZE / 8), %ecx
    rep stosq                          /* rax = 0                               */
    jmp 14b
ENDFUNC scrub_stack

/*
 * page_is_zero                                           [internal, leaf]
 *   in:  rdi = page address (resident, readable)
 *   out: ZF set if all PAGE_SIZE bytes are zero; rdi unchanged
 *   clobbers: rcx, ymm0-ymm3 (they hold OR-ed page contents: the caller
 *        clears them), flags.  AVX only (FEAT_ZEROCHECK).
 */
LOCALFUNC page_is_zero
    PAGE_IS_ZERO                       /* sequences.inc                         */
    ret
ENDFUNC page_is_zero

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
