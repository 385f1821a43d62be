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
 *    saves nothing there (and the record below is then not kept: trim_deep
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

/* Register use in scrub_stack and its steps.  The scan state, set by
 * scrub_stack and kept by every step:
 *   x5 slot, x6 mincore vector, x7 top (then the end of the current chunk,
 *   moving down), x12 page size, x13 log2(page size), x14 DC ZVA block size
 *   or 0, x18 scrub_stack's own return address;
 *   from begin_scan on: x9 low end, x10 trim line.
 * Each step says which of the scratch registers (x0-x4, x8, x11, x15-x17) it
 * clobbers and which it returns something in; all are caller-saved.  `svc #0`
 * clobbers only x0.
 *
 * Why the steps are routines reached with `bl`, and the return address lives
 * in x18: scrub_stack runs on the stack it erases, and must write nothing
 * below its caller's sp except zeros (its contract: it pushes nothing).  `bl`
 * writes only x30; a frame to save x30 in would be a store into the region
 * being erased (the partial page is zeroed first, which would wipe it, and
 * whatever was left there would survive the scope).  So scrub_stack keeps
 * its caller's x30 in x18 (a code address, not stack data; the trampolines,
 * ss_call and ss_scope_exit, zero x1-x18 before they return to the
 * interpreter), and the steps are leaves: they call
 * nothing, use no stack, and return with `ret`.  A signal that arrives
 * meanwhile pushes its frame below sp as it did before the split: the steps
 * change neither sp nor what lies above it. */

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
 *        stack pointer (this routine pushes nothing; see above)
 *   out: x0 = 0, or -errno if mincore failed (nothing sane can be done:
 *        the caller reports the error); the main thread's SLOT_LOW is moved
 *        down if its stack grew
 *   clobbers: x0-x18, flags.  Uses no stack, and holds no stack data in
 *        registers.
 *
 * The steps, in order:
 *   1. zero_partial_page  the page sp stands on, below sp
 *   2. check_faults       may the scan be skipped (no page fault since the
 *                         last scan)?  Then 7., and done
 *   3. begin_scan         the scan's bookkeeping; x9 = low, x10 = trim line
 *   4. probe_growth       main thread: did the stack mapping grow?
 *   5. scan_chunk         mincore one chunk, zero its resident pages, record
 *                         those within TRIM_DEPTH of the top; from the top
 *                         down to low
 *   6. trim_deep          after a chunk with resident pages below the trim
 *                         line: give them back; unmap_deep at the end
 *   then the scan's record is kept (SLOT_PENDING -> SLOT_FAULTS)
 *   7. zero_recorded      (skipped scan) zero the pages the record names
 */
LOCALFUNC scrub_stack
    mov x18, x30                        /* no frame: see "Why the steps ..."    */
    .cfi_register x30, x18
    mov x5, x0                          /* x5 = slot                            */
    mov x6, x1                          /* x6 = mincore vector                  */
    LDR_GLOBAL x12, ss_page_size
    LDR_GLOBAL x13, ss_page_shift
    LDR_GLOBAL x14, ss_zva_size
    bl zero_partial_page                /* 1. x7 = top                          */
    bl check_faults                     /* 2. x15 = the fault count, or -1      */
    cbnz x0, .Lscrub_recorded
    bl begin_scan                       /* 3.                                   */
    bl probe_growth                     /* 4.                                   */
    ldr x9, [x5, #SLOT_LOW]             /* x9 = low (after any growth)          */
    mov x10, #TRIM_DEPTH
    sub x10, x7, x10                    /* x10 = trim line                      */
.Lscrub_chunk:
    cmp x7, x9
    b.ls .Lscrub_scanned
    bl scan_chunk                       /* 5. x7 = the chunk's low end          */
    cbnz x0, .Lscrub_out                /* -errno                               */
    cbz x16, .Lscrub_chunk              /* no resident page below the trim line */
    bl trim_deep                        /* 6.                                   */
    b .Lscrub_chunk
.Lscrub_scanned:
    bl unmap_deep                       /* 6. (main thread)                     */
    ldr x4, [x5, #SLOT_PENDING]
    str x4, [x5, #SLOT_FAULTS]          /* the scan's knowledge holds from here */
    mov x0, #0
    b .Lscrub_out
.Lscrub_recorded:
    bl zero_recorded                    /* 7.                                   */
    mov x0, #0
.Lscrub_out:
    mov x30, x18
    ret
ENDFUNC scrub_stack

/*
 * zero_partial_page                           [scrub_stack step 1, leaf]
 *   in:  x12 = page size
 *   out: x7 = top: sp rounded down to its page (the first page below it is
 *        full); [x7, sp) is zero (sp is 16-byte aligned)
 *   clobbers: x4, x11, x15, flags
 */
LOCALFUNC zero_partial_page
    mov x11, sp
    sub x15, x12, #1
    bic x7, x11, x15
    mov x4, x7
    cmp x4, x11
    b.hs .Lpartial_done
.Lpartial_zero:
    stp xzr, xzr, [x4], #16
    cmp x4, x11
    b.lo .Lpartial_zero
.Lpartial_done:
    ret
ENDFUNC zero_partial_page

/*
 * check_faults                                [scrub_stack step 2, leaf]
 *   in:  x5 = slot, x6 = vector (its first bytes take a struct rusage),
 *        x7 = top
 *   out: x0 = 1: the last scan's record holds (no page fault in the process
 *        since that scan, and x7 not above its top), zero_recorded suffices
 *        (SLOT_N_RECORDED counted); x0 = 0: scan.
 *        x15 = the process's fault count (ru_minflt + ru_majflt), or -1 when
 *        not read (SLOTF_NOFAST, backing off, getrusage failed)
 *   Keeps the back-offs: after faults, SLOT_SKIP scopes (1, 3, 7 ... 63) do
 *   not ask; after deep pages given back (SLOTF_DEEP_TRIMMED, cleared here)
 *   were faulted in again, SLOT_DEEP_SKIP scans (1, 3 ... 1023) keep them.
 *   clobbers: x0, x1, x8, x11, x15-x17, flags
 */
LOCALFUNC check_faults
    mov x15, #-1
    ldr x11, [x5, #SLOT_FLAGS]
    tbnz x11, #2, .Lfaults_scan         /* SLOTF_NOFAST                         */
    ldr w11, [x5, #SLOT_SKIP]
    cbz w11, .Lfaults_read
    sub w11, w11, #1                    /* backing off: scan, record nothing    */
    str w11, [x5, #SLOT_SKIP]
    b .Lfaults_scan
.Lfaults_read:
    mov x0, #RUSAGE_SELF
    mov x1, x6                          /* struct rusage in the vector's place  */
    mov x8, #SYS_getrusage
    svc #0
    cbnz x0, .Lfaults_scan              /* (cannot fail) scan, record nothing   */
    ldr x15, [x6, #RU_MINFLT]
    ldr x11, [x6, #RU_MAJFLT]
    add x15, x15, x11                   /* x15 = faults so far                  */
    ldr x11, [x5, #SLOT_FAULTS]
    /* Did the deep pages the last scan gave back cost page faults since?  A
     * scope that keeps going as deep faults them all in again; then keep them
     * (zeroed, and scanned) for 1, 3, 7 ... 1023 scans. */
    ldr x16, [x5, #SLOT_FLAGS]
    tbz x16, #4, .Lfaults_compare       /* SLOTF_DEEP_TRIMMED                   */
    bic x16, x16, #SLOTF_DEEP_TRIMMED
    str x16, [x5, #SLOT_FLAGS]
    cmn x11, #1
    b.eq .Lfaults_compare               /* cannot tell                          */
    cmp x11, x15
    b.eq .Lfaults_deep_free
    BACKOFF_MISS x5, SLOT_DEEP_SKIP, SLOT_DEEP_STREAK, 10, w16, w17
    b .Lfaults_compare
.Lfaults_deep_free:
    str wzr, [x5, #SLOT_DEEP_STREAK]
.Lfaults_compare:
    cmn x11, #1
    b.eq .Lfaults_scan                  /* nothing recorded yet                 */
    cmp x11, x15
    b.ne .Lfaults_missed
    ldr x11, [x5, #SLOT_REC_TOP]
    cmp x7, x11
    b.hi .Lfaults_scan                  /* called from higher up: pages unknown */
    str wzr, [x5, #SLOT_STREAK]
    ldr x11, [x5, #SLOT_N_RECORDED]
    add x11, x11, #1
    str x11, [x5, #SLOT_N_RECORDED]
    mov x0, #1
    ret
.Lfaults_missed:
    /* faults happened: scan; if that keeps happening, stop asking for a
     * while (1, 3, 7, ... 63 scopes) */
    BACKOFF_MISS x5, SLOT_SKIP, SLOT_STREAK, 6, w11, w16
.Lfaults_scan:
    mov x0, #0
    ret
ENDFUNC check_faults

/*
 * begin_scan                                  [scrub_stack step 3, leaf]
 *   in:  x5 = slot, x7 = top, x15 = check_faults' fault count, or -1
 *   Sets SLOTF_KEEP_DEEP for this scan while SLOT_DEEP_SKIP backs off
 *   (counted down), counts SLOT_N_SCANS, and starts an empty record: top x7,
 *   no page, SLOT_PENDING = x15 (kept at the end only if all went well),
 *   SLOT_FAULTS = -1 until then (nothing is known), SLOT_DEEP = 0.
 *   clobbers: x11, x16, x17, flags
 */
LOCALFUNC begin_scan
    ldr x16, [x5, #SLOT_FLAGS]
    bic x16, x16, #SLOTF_KEEP_DEEP
    ldr w17, [x5, #SLOT_DEEP_SKIP]
    cbz w17, .Lbegin_scan_flags
    sub w17, w17, #1                    /* backing off: deep pages stay         */
    str w17, [x5, #SLOT_DEEP_SKIP]
    orr x16, x16, #SLOTF_KEEP_DEEP
.Lbegin_scan_flags:
    str x16, [x5, #SLOT_FLAGS]
    ldr x11, [x5, #SLOT_N_SCANS]
    add x11, x11, #1
    str x11, [x5, #SLOT_N_SCANS]
    str x15, [x5, #SLOT_PENDING]        /* recorded at the end if all went well */
    mov x11, #-1
    str x11, [x5, #SLOT_FAULTS]         /* until then nothing is known          */
    str x7, [x5, #SLOT_REC_TOP]
    str xzr, [x5, #SLOT_REC_MASK]
    str xzr, [x5, #SLOT_DEEP]           /* deep pages found (main thread)       */
    ret
ENDFUNC begin_scan

/*
 * probe_growth                                [scrub_stack step 4, leaf]
 *   in:  x5 = slot, x6 = vector, x12 = page size
 *   Main thread (SLOTF_GROWSDOWN) only: if the page just below SLOT_LOW is
 *   mapped (and not below SLOT_FLOOR), the stack grew; walks down in
 *   doubling steps (never more than GROW_STEP_MAX, so a step cannot jump
 *   over the guard gap), then bisects to the lowest mapped page, and stores
 *   it in SLOT_LOW.
 *   clobbers: x0-x4, x8, x11, x15-x17, flags
 */
LOCALFUNC probe_growth
    ldr x11, [x5, #SLOT_FLAGS]
    tbz x11, #1, .Lgrow_none            /* SLOTF_GROWSDOWN                      */
    ldr x16, [x5, #SLOT_LOW]
    sub x16, x16, x12                   /* the page just below the known low end */
    ldr x15, [x5, #SLOT_FLOOR]
    cmp x16, x15
    b.lo .Lgrow_none
    PAGE_MAPPED x16
    b.ne .Lgrow_none                    /* unmapped: no growth (common case)    */
    mov x3, x16                         /* x3 = lowest page known mapped        */
    mov x4, x12                         /* x4 = step                            */
.Lgrow_down:
    sub x16, x3, x4
    ldr x15, [x5, #SLOT_FLOOR]
    cmp x16, x15
    b.hs .Lgrow_probe
    mov x16, x15                        /* clamp to the floor                   */
.Lgrow_probe:
    cmp x16, x3
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
.Lbisect_step:
    sub x16, x3, x4
    cmp x16, x12
    b.ls .Lgrown                        /* adjacent: x3 is the lowest mapped    */
    lsr x16, x16, #1
    sub x17, x12, #1
    bic x16, x16, x17
    add x16, x16, x4                    /* x16 = midpoint page                  */
    PAGE_MAPPED x16
    b.ne .Lbisect_unmapped
    mov x3, x16
    b .Lbisect_step
.Lbisect_unmapped:
    mov x4, x16
    b .Lbisect_step
.Lgrown:
    str x3, [x5, #SLOT_LOW]
.Lgrow_none:
    ret
ENDFUNC probe_growth

/*
 * scan_chunk                                  [scrub_stack step 5, leaf]
 *   in:  x5 = slot, x6 = vector, x7 = chunk end (above x9), x9 = low,
 *        x10 = trim line, x12-x14
 *   The chunk: the VEC_BYTES pages below x7 (fewer when low is nearer).
 *   Every resident page in it is zeroed; those at or above the trim line
 *   stay resident and are recorded in SLOT_REC_MASK.
 *   out: x0 = 0, or -errno (mincore failed); x7 = the chunk's low end (the
 *        next chunk ends there); x11 = pages in the chunk; x16 = the lowest
 *        resident page below the trim line (zeroed, for trim_deep), or 0
 *   clobbers: x0-x4, x8, x11, x15-x17, flags
 */
LOCALFUNC scan_chunk
    sub x1, x7, x9                      /* x1 = bytes left                      */
    mov x11, #VEC_BYTES
    lsl x11, x11, x13                   /* x11 = bytes one vector describes     */
    cmp x1, x11
    b.ls .Lchunk_sized
    mov x1, x11
.Lchunk_sized:
    sub x0, x7, x1                      /* x0 = chunk low                       */
    mov x7, x0                          /* the next chunk ends here             */
    mov x2, x6
    mov x8, #SYS_mincore
    svc #0
    cbnz x0, .Lchunk_out                /* -errno                               */
    lsr x11, x1, x13                    /* x11 = pages in this chunk            */
    mov x15, x11                        /* x15 = page index + 1, counting down  */
    mov x16, #0                         /* x16 = lowest resident page below trim */
.Lchunk_eight:
    cmp x15, #8                         /* eight pages at once when none is     */
    b.lo .Lchunk_page                   /* resident (vector bytes are 0 or 1)   */
    add x17, x6, x15
    ldur x17, [x17, #-8]
    cbnz x17, .Lchunk_page
    subs x15, x15, #8
    b.ne .Lchunk_eight
    b .Lchunk_out                       /* x0 = 0                               */
.Lchunk_page:
    add x17, x6, x15
    ldurb w17, [x17, #-1]
    tbz w17, #0, .Lchunk_next           /* resident?                            */
    sub x17, x15, #1
    lsl x17, x17, x13
    add x17, x17, x7                    /* x17 = page address                   */
    cmp x17, x10
    b.hs .Lchunk_record
    mov x16, x17                        /* below the trim line: give back later */
    b .Lchunk_zero
.Lchunk_record:
    ldr x3, [x5, #SLOT_REC_TOP]         /* within it: stays resident, recorded  */
    sub x3, x3, x17
    lsr x3, x3, x13
    sub x3, x3, #1                      /* x3 = page index below the top        */
    mov x4, #1
    lsl x4, x4, x3
    ldr x8, [x5, #SLOT_REC_MASK]
    orr x8, x8, x4
    str x8, [x5, #SLOT_REC_MASK]
.Lchunk_zero:
    ZERO_PAGE x17
.Lchunk_next:
    subs x15, x15, #1
    b.ne .Lchunk_eight
.Lchunk_out:
    ret
ENDFUNC scan_chunk

/*
 * trim_deep                                   [scrub_stack step 6, leaf]
 *   in:  x5 = slot, x6 = vector (free: the chunk's is used up), x7 = the
 *        chunk's low end, x9 = low, x10 = trim line, x11 = pages in the
 *        chunk, x12, x13, x16 = its lowest resident page below the trim
 *        line (scan_chunk zeroed it and every resident page above it)
 *   What becomes of the chunk's deep pages:
 *    - SLOTF_KEEP_DEEP (backing off): they stay; resident below the record,
 *      so nothing is recorded (SLOT_PENDING = -1);
 *    - main thread that can grow back (SLOTF_GROWSDOWN, SLOT_FLOOR < low):
 *      SLOT_DEEP = 1, unmap_deep returns them at the end;
 *    - otherwise [x16, min(chunk end, trim line)) is given back with
 *      MADV_DONTNEED and mincore checks that it is gone: SLOTF_DEEP_TRIMMED.
 *      If that fails, or the pages are still resident (QEMU before 8.0
 *      ignores MADV_DONTNEED), the erasure holds but nothing is recorded.
 *   clobbers: x0-x4, x8, x17, flags
 */
LOCALFUNC trim_deep
    ldr x17, [x5, #SLOT_FLAGS]
    tbnz x17, #5, .Ltrim_unrecorded     /* SLOTF_KEEP_DEEP                      */
    tbz x17, #1, .Ltrim_give_back       /* not SLOTF_GROWSDOWN                  */
    ldr x17, [x5, #SLOT_FLOOR]
    cmp x17, x9
    b.hs .Ltrim_give_back               /* no room to grow back: see unmap_deep */
    mov x17, #1
    str x17, [x5, #SLOT_DEEP]           /* main thread: unmapped below, later   */
    ret
.Ltrim_give_back:
    lsl x17, x11, x13
    add x17, x17, x7                    /* x17 = chunk end                      */
    cmp x17, x10
    b.ls .Ltrim_madvise
    mov x17, x10
.Ltrim_madvise:
    mov x0, x16
    sub x1, x17, x16
    mov x2, #MADV_DONTNEED
    mov x8, #SYS_madvise
    svc #0
    cbnz x0, .Ltrim_unrecorded
    mov x0, x16                         /* x1 = length, still                   */
    mov x2, x6                          /* (this chunk's vector is used up)     */
    mov x8, #SYS_mincore
    svc #0
    cbnz x0, .Ltrim_unrecorded
    lsr x3, x1, x13                     /* x3 = pages given back                */
.Ltrim_check:
    subs x3, x3, #1
    b.lo .Ltrim_gone
    ldrb w4, [x6, x3]
    tbz w4, #0, .Ltrim_check
.Ltrim_unrecorded:
    mov x4, #-1
    str x4, [x5, #SLOT_PENDING]         /* still resident: record nothing       */
    ret
.Ltrim_gone:
    ldr x4, [x5, #SLOT_FLAGS]           /* all gone                             */
    orr x4, x4, #SLOTF_DEEP_TRIMMED
    str x4, [x5, #SLOT_FLAGS]
    ret
ENDFUNC trim_deep

/*
 * unmap_deep                                  [scrub_stack step 6, leaf]
 *   in:  x5 = slot, x9 = low, x10 = trim line
 *   Main thread after a deep scope (SLOT_DEEP, set by trim_deep): everything
 *   below the trim line is zero; unmap it.  The [stack] mapping grows back on
 *   demand, and unmapping also frees its page tables, which mincore would
 *   otherwise walk on every later scope.  Only done when the mapping may grow
 *   below its low end (SLOT_FLOOR < SLOT_LOW): under qemu-user the guest
 *   stack is a fixed mapping whose floor is its low end, and a hole in it
 *   would never be filled again.  Success: SLOT_LOW = the trim line,
 *   SLOTF_DEEP_TRIMMED.  A failure leaves them resident, zero, unrecorded
 *   (SLOT_PENDING = -1).
 *   clobbers: x0, x1, x4, x8, x17, flags
 */
LOCALFUNC unmap_deep
    ldr x17, [x5, #SLOT_DEEP]
    cbz x17, .Lunmap_none
    cmp x9, x10
    b.hs .Lunmap_none
    mov x0, x9
    sub x1, x10, x9
    mov x8, #SYS_munmap
    svc #0
    cbz x0, .Lunmapped
    mov x4, #-1
    str x4, [x5, #SLOT_PENDING]         /* still resident: record nothing       */
    ret
.Lunmapped:
    str x10, [x5, #SLOT_LOW]
    ldr x4, [x5, #SLOT_FLAGS]
    orr x4, x4, #SLOTF_DEEP_TRIMMED
    str x4, [x5, #SLOT_FLAGS]
.Lunmap_none:
    ret
ENDFUNC unmap_deep

/*
 * zero_recorded                               [scrub_stack step 7, leaf]
 *   in:  x5 = slot, x7 = top (not above SLOT_REC_TOP: check_faults said so),
 *        x12-x14
 *   No page fault since the last scan: zero the recorded pages below the
 *   top.  Bit i of the record is the page i+1 pages below REC_TOP; shifted
 *   by the distance to our top, bit j is the page j+1 pages below x7.
 *   clobbers: x3, x4, x9-x11, x17, flags
 */
LOCALFUNC zero_recorded
    ldr x11, [x5, #SLOT_REC_TOP]
    sub x11, x11, x7
    lsr x11, x11, x13                   /* x11 = pages between the two tops     */
    cmp x11, #63
    b.hi .Lrecorded_done                /* all recorded pages lie above us      */
    ldr x9, [x5, #SLOT_REC_MASK]
    lsr x9, x9, x11                     /* x9 = recorded pages below x7         */
.Lrecorded_page:
    cbz x9, .Lrecorded_done
    rbit x10, x9
    clz x10, x10                        /* j                                    */
    mov x11, #1
    lsl x11, x11, x10
    bic x9, x9, x11
    add x17, x10, #1
    lsl x17, x17, x13
    sub x17, x7, x17                    /* x17 = x7 - (j + 1) pages             */
    ZERO_PAGE x17
    b .Lrecorded_page
.Lrecorded_done:
    ret
ENDFUNC zero_recorded

GNU_PROPERTY_NOTES
