/*
 * stack.S — erase every byte of the thread's stack below the caller.
 *
 * What the scope's function could have written is exactly the part of the
 * thread's stack below the trampoline's stack pointer (AArch64 Linux has no
 * red zone; signal frames are pushed below sp as well).  Pages there that
 * are not resident (mincore) were never written since they were last given
 * back to the kernel, so they hold nothing; every resident page is zeroed
 * with DC ZVA (or stp xzr, xzr where DC ZVA is prohibited), so no register
 * ever holds stack data.  Resident pages deeper than TRIM_DEPTH are then
 * returned with MADV_DONTNEED after zeroing, so the next scope finds them
 * non-resident: the zeroing work stays proportional to the depth actually
 * used, and mincore itself skips page-table-less ranges in the kernel.
 *
 * The page size is the kernel's (4, 16 or 64 KiB), stored by ss_init.
 *
 * Platform assumptions, spelled out:
 *  - a thread's stack is [SLOT_LOW, SLOT_HIGH) as registered by _threads.py
 *    (pthread_getattr_np for threads, /proc/self/maps for the main thread);
 *  - the main thread's [stack] mapping grows down on demand and never shrinks;
 *    the kernel keeps a guard gap (stack_guard_gap, 256 pages by default) below
 *    it in which nothing is mapped, and it never grows below SLOT_FLOOR;
 *  - swapped-out pages are reported non-resident by mincore and are not
 *    covered (see docs/guarantees.md);
 *  - under qemu-user the stack is a fixed mapping (no growth) and MADV_DONTNEED
 *    may be ignored (QEMU before 8.0): pages are still zeroed, only the trim
 *    saves nothing there (and the record below is then not kept: step 4
 *    checks that the pages it gave back are gone);
 *  - no page of a thread's stack becomes resident without a page fault
 *    counted in this process: khugepaged is kept away by MADV_NOHUGEPAGE
 *    (threads.S); writes by other processes (ptrace, process_vm_writev) and
 *    kernel threads acting on this memory are not counted, and are outside
 *    the guarantee (docs/guarantees.md).
 *
 * Skipping the scan.  A full scan ends with a known state: below its top T,
 * the pages recorded in SLOT_REC_MASK (those within TRIM_DEPTH of T) are
 * resident and zero, and no other page is resident.  A page becomes resident
 * only through a page fault, and getrusage(RUSAGE_SELF) counts the faults of
 * every thread of the process (ru_minflt + ru_majflt).  So when the count
 * read at the end of a later scope equals the count read just before that
 * scan, and the scope's top is not above T, zeroing the recorded pages below
 * the top is exact, and mincore (plus the main thread's growth probe) is not
 * needed.  The count is process-wide because another thread may write into a
 * buffer in this thread's frames.  When the check keeps failing, it is
 * skipped for 1, 3, 7 ... 63 scopes.  (x86-64 also reads recorded pages
 * before zeroing them; that needs a signal detector, rseq, which this port
 * does not use yet.)
 */
.include "common.inc"
.include "macros.inc"

.equ GROW_STEP_MAX, (256 * 1024) /* below the smallest default guard gap       */

/* Register use in scrub_stack (all caller-saved; the routine is a leaf):
 *   x5 slot, x6 mincore vector, x7 end of the current chunk (moving down),
 *   x9 low end, x10 trim line, x12 page size, x13 log2(page size),
 *   x14 DC ZVA block size or 0; x0-x4, x8, x11, x15-x17 scratch.
 * `svc #0` clobbers only x0. */

/* Z = 1 if the page at \addr is mapped (mincore succeeded).  Clobbers x0-x2, x8. */
.macro PAGE_MAPPED addr
    mov x0, \addr
    mov x1, x12
    mov x2, x6
    mov x8, #SYS_mincore
    svc #0
    cmp x0, #0
.endm

/* Zero the page at \addr.  Clobbers x3, x4, flags. */
.macro ZERO_PAGE addr
    add x3, \addr, x12                  /* x3 = page end                        */
    mov x4, \addr
    cbz x14, .Lstp\@
.Lzva\@:
    dc zva, x4
    add x4, x4, x14
    cmp x4, x3
    b.lo .Lzva\@
    b .Lzeroed\@
.Lstp\@:
    stp xzr, xzr, [x4]
    stp xzr, xzr, [x4, #16]
    stp xzr, xzr, [x4, #32]
    stp xzr, xzr, [x4, #48]
    add x4, x4, #64
    cmp x4, x3
    b.lo .Lstp\@
.Lzeroed\@:
.endm

    .text
/*
 * scrub_stack                                            [internal, leaf]
 *
 *   in:  x0 = this thread's slot
 *        x1 = mincore vector: VEC_BYTES bytes off the stack (the slot's,
 *             SLOT_VECTOR)
 *        the region erased is [SLOT_LOW, sp): everything below the caller's
 *        stack pointer (this routine is a leaf and pushes nothing)
 *   out: x0 = 0, or -errno if mincore failed (nothing sane can be done:
 *        the caller reports the error); the main thread's SLOT_LOW is moved
 *        down if its stack grew
 *   clobbers: x0-x17, flags.  Uses no stack, and holds no stack data in
 *        registers.
 */
LOCALFUNC scrub_stack
    mov x5, x0                          /* x5 = slot                            */
    mov x6, x1                          /* x6 = mincore vector                  */
    LDR_GLOBAL x12, ss_page_size
    LDR_GLOBAL x13, ss_page_shift
    LDR_GLOBAL x14, ss_zva_size

    /* 1. the partial page we are standing on: [page start, sp) */
    mov x11, sp
    sub x15, x12, #1
    bic x7, x11, x15                    /* x7 = top: the first page below is full */
    mov x4, x7
    cmp x4, x11
    b.hs 2f
1:  stp xzr, xzr, [x4], #16             /* sp is 16-byte aligned                */
    cmp x4, x11
    b.lo 1b
2:
    /* 1b. can the scan be skipped?  x15 = the process's fault count, or -1 */
    mov x15, #-1
    ldr x11, [x5, #SLOT_FLAGS]
    tbnz x11, #2, .Lfull                /* SLOTF_NOFAST                         */
    ldr w11, [x5, #SLOT_SKIP]
    cbz w11, 1f
    sub w11, w11, #1                    /* backing off: scan, record nothing    */
    str w11, [x5, #SLOT_SKIP]
    b .Lfull
1:  mov x0, #RUSAGE_SELF
    mov x1, x6                          /* struct rusage in the vector's place  */
    mov x8, #SYS_getrusage
    svc #0
    cbnz x0, .Lfull                     /* (cannot fail) scan, record nothing   */
    ldr x15, [x6, #RU_MINFLT]
    ldr x11, [x6, #RU_MAJFLT]
    add x15, x15, x11                   /* x15 = faults so far                  */
    ldr x11, [x5, #SLOT_FAULTS]
    /* Did the deep pages the last scan gave back cost page faults since?  A
     * scope that keeps going as deep faults them all in again; then keep them
     * (zeroed, and scanned) for 1, 3, 7 ... 1023 scans. */
    ldr x16, [x5, #SLOT_FLAGS]
    tbz x16, #4, 5f                     /* SLOTF_DEEP_TRIMMED                   */
    bic x16, x16, #SLOTF_DEEP_TRIMMED
    str x16, [x5, #SLOT_FLAGS]
    cmn x11, #1
    b.eq 5f                             /* cannot tell                          */
    cmp x11, x15
    b.eq 4f
    BACKOFF_MISS x5, SLOT_DEEP_SKIP, SLOT_DEEP_STREAK, 10, w16, w17
    b 5f
4:  str wzr, [x5, #SLOT_DEEP_STREAK]
5:  cmn x11, #1
    b.eq .Lfull                         /* nothing recorded yet                 */
    cmp x11, x15
    b.ne .Lmissed
    ldr x11, [x5, #SLOT_REC_TOP]
    cmp x7, x11
    b.hi .Lfull                         /* called from higher up: pages unknown */
    str wzr, [x5, #SLOT_STREAK]
    ldr x11, [x5, #SLOT_N_RECORDED]
    add x11, x11, #1
    str x11, [x5, #SLOT_N_RECORDED]
    b .Lrecorded
.Lmissed:
    /* faults happened: scan; if that keeps happening, stop asking for a
     * while (1, 3, 7, ... 63 scopes) */
    BACKOFF_MISS x5, SLOT_SKIP, SLOT_STREAK, 6, w11, w16
.Lfull:
    ldr x16, [x5, #SLOT_FLAGS]
    bic x16, x16, #SLOTF_KEEP_DEEP
    ldr w17, [x5, #SLOT_DEEP_SKIP]
    cbz w17, 6f
    sub w17, w17, #1                    /* backing off: deep pages stay         */
    str w17, [x5, #SLOT_DEEP_SKIP]
    orr x16, x16, #SLOTF_KEEP_DEEP
6:  str x16, [x5, #SLOT_FLAGS]
    ldr x11, [x5, #SLOT_N_SCANS]
    add x11, x11, #1
    str x11, [x5, #SLOT_N_SCANS]
    str x15, [x5, #SLOT_PENDING]        /* recorded at the end if all went well */
    mov x11, #-1
    str x11, [x5, #SLOT_FAULTS]         /* until then nothing is known          */
    str x7, [x5, #SLOT_REC_TOP]
    str xzr, [x5, #SLOT_REC_MASK]

    /* 2. main thread: did the stack mapping grow below the known low end? */
    ldr x11, [x5, #SLOT_FLAGS]
    tbz x11, #1, .Lscan                 /* SLOTF_GROWSDOWN                      */
    ldr x16, [x5, #SLOT_LOW]
    sub x16, x16, x12                   /* the page just below the known low end */
    ldr x15, [x5, #SLOT_FLOOR]
    cmp x16, x15
    b.lo .Lscan
    PAGE_MAPPED x16
    b.ne .Lscan                         /* unmapped: no growth (common case)    */
    /* grew: walk down in doubling steps (never more than GROW_STEP_MAX, so a
     * step cannot jump over the guard gap), then bisect to the exact page */
    mov x3, x16                         /* x3 = lowest page known mapped        */
    mov x4, x12                         /* x4 = step                            */
.Lgrow_down:
    sub x16, x3, x4
    ldr x15, [x5, #SLOT_FLOOR]
    cmp x16, x15
    b.hs 1f
    mov x16, x15                        /* clamp to the floor                   */
1:  cmp x16, x3
    b.eq .Lgrown                        /* x3 is the floor already              */
    PAGE_MAPPED x16
    b.ne .Lbisect                       /* unmapped: the end lies in between    */
    mov x3, x16
    lsl x4, x4, #1
    mov x17, #GROW_STEP_MAX
    cmp x4, x17
    b.ls .Lgrow_down
    mov x4, x17
    b .Lgrow_down
.Lbisect:
    mov x4, x16                         /* x4 = highest page known unmapped     */
2:  sub x16, x3, x4
    cmp x16, x12
    b.ls .Lgrown                        /* adjacent: x3 is the lowest mapped    */
    lsr x16, x16, #1
    sub x17, x12, #1
    bic x16, x16, x17
    add x16, x16, x4                    /* x16 = midpoint page                  */
    PAGE_MAPPED x16
    b.ne 3f
    mov x3, x16
    b 2b
3:  mov x4, x16
    b 2b
.Lgrown:
    str x3, [x5, #SLOT_LOW]

.Lscan:
    /* 3. full pages [low, top), from the top down, VEC_BYTES pages a call */
    ldr x9, [x5, #SLOT_LOW]             /* x9 = low                             */
    mov x10, #TRIM_DEPTH
    sub x10, x7, x10                    /* x10 = trim line                      */
    str xzr, [x5, #SLOT_DEEP]           /* deep pages found (main thread)       */
.Lchunk:
    cmp x7, x9
    b.ls .Ldone
    sub x1, x7, x9                      /* x1 = bytes left                      */
    mov x11, #VEC_BYTES
    lsl x11, x11, x13                   /* x11 = bytes one vector describes     */
    cmp x1, x11
    b.ls 4f
    mov x1, x11
4:  sub x0, x7, x1                      /* x0 = chunk low                       */
    mov x7, x0                          /* the next chunk ends here             */
    mov x2, x6
    mov x8, #SYS_mincore
    svc #0
    cbnz x0, .Lout                      /* -errno                               */
    lsr x11, x1, x13                    /* x11 = pages in this chunk            */
    mov x15, x11                        /* x15 = page index + 1, counting down  */
    mov x16, #0                         /* x16 = lowest resident page below trim */
.Lpage:
    cmp x15, #8                         /* eight pages at once when none is     */
    b.lo 8f                             /* resident (vector bytes are 0 or 1)   */
    add x17, x6, x15
    ldur x17, [x17, #-8]
    cbnz x17, 8f
    subs x15, x15, #8
    b.ne .Lpage
    b 9f
8:  add x17, x6, x15
    ldurb w17, [x17, #-1]
    tbz w17, #0, 5f                     /* resident?                            */
    sub x17, x15, #1
    lsl x17, x17, x13
    add x17, x17, x7                    /* x17 = page address                   */
    cmp x17, x10
    b.hs 12f
    mov x16, x17                        /* below the trim line: give back later */
    b 6f
12: ldr x3, [x5, #SLOT_REC_TOP]         /* within it: stays resident, recorded  */
    sub x3, x3, x17
    lsr x3, x3, x13
    sub x3, x3, #1                      /* x3 = page index below the top        */
    mov x4, #1
    lsl x4, x4, x3
    ldr x8, [x5, #SLOT_REC_MASK]
    orr x8, x8, x4
    str x8, [x5, #SLOT_REC_MASK]
6:  ZERO_PAGE x17
5:  subs x15, x15, #1
    b.ne .Lpage
9:  cbz x16, .Lchunk
    ldr x17, [x5, #SLOT_FLAGS]
    tbz x17, #5, 23f                    /* SLOTF_KEEP_DEEP                      */
    mov x4, #-1
    str x4, [x5, #SLOT_PENDING]         /* resident below the record: no record */
    b .Lchunk
23:
    tbz x17, #1, 10f                    /* not SLOTF_GROWSDOWN                  */
    ldr x17, [x5, #SLOT_FLOOR]
    cmp x17, x9
    b.hs 10f                            /* no room to grow back: see 5.         */
    mov x17, #1
    str x17, [x5, #SLOT_DEEP]           /* main thread: unmapped below, see 5.  */
    b .Lchunk
10: /* 4. return the zeroed deep pages: [x16, min(chunk end, trim line)).
     *    If that fails, or they are still resident (QEMU before 8.0 ignores
     *    MADV_DONTNEED), the erasure holds but nothing is recorded. */
    lsl x17, x11, x13
    add x17, x17, x7                    /* x17 = chunk end                      */
    cmp x17, x10
    b.ls 7f
    mov x17, x10
7:  mov x0, x16
    sub x1, x17, x16
    mov x2, #MADV_DONTNEED
    mov x8, #SYS_madvise
    svc #0
    cbnz x0, 13f
    mov x0, x16                         /* x1 = length, still                   */
    mov x2, x6                          /* (this chunk's vector is used up)     */
    mov x8, #SYS_mincore
    svc #0
    cbnz x0, 13f
    lsr x3, x1, x13                     /* x3 = pages given back                */
14: subs x3, x3, #1
    b.lo 17f
    ldrb w4, [x6, x3]
    tbz w4, #0, 14b
13: mov x4, #-1
    str x4, [x5, #SLOT_PENDING]         /* still resident: record nothing       */
    b .Lchunk
17: ldr x4, [x5, #SLOT_FLAGS]           /* all gone                             */
    orr x4, x4, #SLOTF_DEEP_TRIMMED
    str x4, [x5, #SLOT_FLAGS]
    b .Lchunk
.Ldone:
    /* 5. main thread after a deep scope: everything below the trim line is zero;
     *    unmap it.  The [stack] mapping grows back on demand, and unmapping also
     *    frees its page tables, which mincore would otherwise walk on every
     *    later scope.  Only done when the mapping may grow below its low end
     *    (SLOT_FLOOR < SLOT_LOW): under qemu-user the guest stack is a fixed
     *    mapping whose floor is its low end, and a hole in it would never be
     *    filled again.  A failure leaves them resident, zero, unrecorded. */
    ldr x17, [x5, #SLOT_DEEP]
    cbz x17, 11f
    cmp x9, x10
    b.hs 11f
    mov x0, x9
    sub x1, x10, x9
    mov x8, #SYS_munmap
    svc #0
    cbz x0, 15f
    mov x4, #-1
    str x4, [x5, #SLOT_PENDING]         /* still resident: record nothing       */
    b 11f
15: str x10, [x5, #SLOT_LOW]
    ldr x4, [x5, #SLOT_FLAGS]
    orr x4, x4, #SLOTF_DEEP_TRIMMED
    str x4, [x5, #SLOT_FLAGS]
11: ldr x4, [x5, #SLOT_PENDING]
    str x4, [x5, #SLOT_FAULTS]          /* the scan's knowledge holds from here */
    mov x0, #0
.Lout:
    ret

.Lrecorded:
    /* 6. no fault since the last scan and not above its top: zero the
     *    recorded pages below the top.  Bit i of the record is the page i+1
     *    pages below REC_TOP; shifted by the distance to our top, bit j is the
     *    page j+1 pages below x7. */
    ldr x11, [x5, #SLOT_REC_TOP]
    sub x11, x11, x7
    lsr x11, x11, x13                   /* x11 = pages between the two tops     */
    mov x0, #0
    cmp x11, #63
    b.hi .Lout                          /* all recorded pages lie above us      */
    ldr x9, [x5, #SLOT_REC_MASK]
    lsr x9, x9, x11                     /* x9 = recorded pages below x7         */
16: cbz x9, .Lout
    rbit x10, x9
    clz x10, x10                        /* j                                    */
    mov x11, #1
    lsl x11, x11, x10
    bic x9, x9, x11
    add x17, x10, #1
    lsl x17, x17, x13
    sub x17, x7, x17                    /* x17 = x7 - (j + 1) pages             */
    ZERO_PAGE x17
    b 16b
ENDFUNC scrub_stack

GNU_PROPERTY_NOTES
