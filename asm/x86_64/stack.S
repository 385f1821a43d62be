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

/* Is the page at rdi mapped?  ZF set if it is (mincore succeeded), clear if
 * not.  in: rdi = page address, r9 = a vector of at least one byte.
 * clobbers: rax, rcx, rdx, rsi, r11, flags.  A macro, not a call: the growth
 * probe that uses it is itself one of scrub_stack's steps (see below). */
.macro PAGE_MAPPED
    mov $PAGE_SIZE, %esi
    mov %r9, %rdx
    mov $SYS_mincore, %eax
    syscall
    test %rax, %rax
.endm

    .text
/*
 * scrub_stack                                            [internal]
 *
 *   in:  rdi = this thread's slot
 *        rsi = mincore vector: VEC_BYTES bytes off the stack (the slot's,
 *              SLOT_VECTOR)
 *        the region erased is [SLOT_LOW, rsp): everything below this
 *        routine's return address.  rsp is 8 mod 16 (called with the ABI's
 *        alignment: both callers use SCOPE_PROLOGUE)
 *   out: rax = 0, or -errno if mincore failed (nothing sane can be done:
 *        the caller reports the error); the main thread's SLOT_LOW is moved
 *        down if its stack grew
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8-r11, r13-r15, ymm0-ymm3 (left
 *        zero), flags.  Holds no stack data in registers.
 *
 * The steps, each but the first a leaf routine below (scrub_step_*) that
 * shares this register contract:
 *        r8 = slot, r9 = vector, r10 = top (the page boundary at or below
 *        rsp; during the scan, the low end of the part scanned so far).
 *   1. the partial page [top, rsp), inline;
 *   2. the fault-count check: may the scan be skipped?  If so, 6;
 *   3. main thread: the growth probe (did [stack] grow below SLOT_LOW?);
 *   4. the mincore scan, one chunk of VEC_BYTES pages a call, zeroing every
 *      resident page;
 *   5. the deep trim: resident pages deeper than TRIM_DEPTH given back,
 *      per chunk (madvise) or, on the main thread, all at once (munmap);
 *      then the scan's record is committed;
 *   6. the recorded pages: zeroed, or checked (idle ones given back).
 *
 * Stack use.  Every step routine is called from here, never from another
 * step, and calls nothing itself (PAGE_MAPPED and PAGE_IS_ZERO are macros):
 * the only word ever written below our rsp (S) is that call's return
 * address, at S - 8.  S is 8 mod 16, so S - 8 >= top: the word lies in the
 * partial page [top, S) that step 1 zeroes first.  No later step zeroes
 * that word (they zero pages below top; step 6's signal-frame zone ends
 * right below it), so none overwrites its own return address; what is left
 * there is an address in this file, not the scope's data.  Step 1 cannot be a call: it zeroes up to S, which would include
 * the callee's own return address.
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

    call scrub_step_fault_check        /* 2. eax = 1: skip the scan (rdx = count) */
    test %eax, %eax
    jnz .Lscrub_recorded

    call scrub_step_scan_begin         /* the record, reset for this scan       */
    call scrub_step_grow               /* 3. main thread: SLOT_LOW moved down   */
    mov SLOT_LOW(%r8), %r13            /* r13 = low                             */
    mov %r10, %r14
    sub $TRIM_DEPTH, %r14              /* r14 = trim line                       */
    movq $0, SLOT_DEEP(%r8)            /* deep pages found (main thread)        */
.Lscrub_chunk:
    cmp %r13, %r10
    jbe .Lscrub_scanned
    call scrub_step_scan_chunk         /* 4. rax = 0 or -errno; r10 moved down  */
    test %rax, %rax
    jnz .Lscrub_out                    /* -errno                                */
    test %r15, %r15
    jz .Lscrub_chunk                   /* no resident page below the trim line  */
    call scrub_step_trim_chunk         /* 5. per chunk                          */
    jmp .Lscrub_chunk
.Lscrub_scanned:
    call scrub_step_trim_below         /* 5. main thread, after a deep scope    */
    mov SLOT_PENDING(%r8), %rax
    mov %rax, SLOT_FAULTS(%r8)         /* the scan's knowledge holds from here  */
    jmp .Lscrub_done

.Lscrub_recorded:
    call scrub_step_recorded_below     /* 6. eax = 0: all recorded pages above  */
    test %eax, %eax
    jz .Lscrub_done
    call scrub_step_check_recorded     /* eax = 0: the check cannot run here    */
    test %eax, %eax
    jz .Lscrub_zero_recorded
    call scrub_step_give_back_idle
    jmp .Lscrub_done
.Lscrub_zero_recorded:
    call scrub_step_zero_recorded
.Lscrub_done:
    xor %eax, %eax
.Lscrub_out:
    ret
ENDFUNC scrub_stack

/*
 * scrub_step_fault_check — step 2: can the scan be skipped?
 *                                          [internal, leaf; scrub_stack only]
 *   in:  r8 = slot, r9 = vector (a struct rusage is read into it), r10 = top
 *   out: eax = 1: no page fault in the process since the last full scan read
 *        its count, and top is not above that scan's top: the recorded pages
 *        are the only resident ones below top (SLOT_N_RECORDED counted).
 *        eax = 0: scan; rdx = the fault count read now, which the scan
 *        records, or -1 when it records nothing (NOFAST, backing off).
 *        The trim verdicts (TRIM_VERDICT) are given whenever the count is
 *        read; a miss backs the check off (SLOT_SKIP, SLOT_STREAK).
 *   clobbers: rax, rcx, rdx, rdi, rsi, r11, flags.
 */
LOCALFUNC scrub_step_fault_check
    mov $-1, %rdx                      /* rdx = the process's fault count, or -1 */
    testq $SLOTF_NOFAST, SLOT_FLAGS(%r8)
    jnz .Lfault_scan
    cmpl $0, SLOT_SKIP(%r8)
    je .Lfault_read
    decl SLOT_SKIP(%r8)                /* backing off: scan, record nothing     */
    jmp .Lfault_scan
.Lfault_read:
    mov $RUSAGE_SELF, %edi
    mov %r9, %rsi                      /* struct rusage in the vector's place   */
    mov $SYS_getrusage, %eax
    syscall                            /* clobbers rcx, r11                     */
    test %rax, %rax
    jnz .Lfault_scan                   /* (cannot fail) scan, record nothing    */
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
    je .Lfault_scan                    /* nothing recorded yet                  */
    cmp %rax, %rdx
    jne .Lfault_missed
    cmp SLOT_REC_TOP(%r8), %r10
    ja .Lfault_scan                    /* called from higher up: pages unknown  */
    movl $0, SLOT_STREAK(%r8)
    incq SLOT_N_RECORDED(%r8)
    mov $1, %eax
    ret
.Lfault_missed:
    /* faults happened: scan; if that keeps happening, stop asking for a
     * while (1, 3, 7, ... 63 scopes) */
    BACKOFF_MISS %r8, SLOT_SKIP, SLOT_STREAK, 6
.Lfault_scan:
    xor %eax, %eax
    ret
ENDFUNC scrub_step_fault_check

/*
 * scrub_step_scan_begin — a full scan starts: reset the record
 *                                          [internal, leaf; scrub_stack only]
 *   in:  r8 = slot, r10 = top, rdx = the count to record if the scan
 *        succeeds (or -1)
 *   out: SLOT_N_SCANS counted; SLOTF_KEEP_DEEP set while deep trims back off
 *        (SLOT_DEEP_SKIP); SLOT_PENDING = rdx; nothing known until the scan
 *        ends (SLOT_FAULTS = -1); REC_TOP = top, REC_MASK = 0.
 *   clobbers: flags.
 */
LOCALFUNC scrub_step_scan_begin
    incq SLOT_N_SCANS(%r8)
    andq $~SLOTF_KEEP_DEEP, SLOT_FLAGS(%r8)
    cmpl $0, SLOT_DEEP_SKIP(%r8)
    je .Lbegin_record
    decl SLOT_DEEP_SKIP(%r8)           /* backing off: deep pages stay          */
    orq $SLOTF_KEEP_DEEP, SLOT_FLAGS(%r8)
.Lbegin_record:
    mov %rdx, SLOT_PENDING(%r8)        /* recorded at the end if all went well  */
    movq $-1, SLOT_FAULTS(%r8)         /* until then nothing is known           */
    mov %r10, SLOT_REC_TOP(%r8)
    movq $0, SLOT_REC_MASK(%r8)
    ret
ENDFUNC scrub_step_scan_begin

/*
 * scrub_step_grow — step 3: did the main thread's stack grow below SLOT_LOW?
 *                                          [internal, leaf; scrub_stack only]
 *   in:  r8 = slot, r9 = vector
 *   out: on a grow-down stack (SLOTF_GROWSDOWN) whose page just below
 *        SLOT_LOW is mapped, SLOT_LOW = the lowest mapped page (never below
 *        SLOT_FLOOR); otherwise nothing changes.
 *   clobbers: rax, rcx, rdx, rsi, rdi, r11, r13-r15, flags.
 */
LOCALFUNC scrub_step_grow
    testq $SLOTF_GROWSDOWN, SLOT_FLAGS(%r8)
    jz .Lgrow_out
    mov SLOT_LOW(%r8), %rdi
    sub $PAGE_SIZE, %rdi               /* the page just below the known low end */
    cmp SLOT_FLOOR(%r8), %rdi
    jb .Lgrow_out
    PAGE_MAPPED
    jnz .Lgrow_out                     /* unmapped: no growth (common case)     */
    /* grew: walk down in doubling steps (never more than GROW_STEP_MAX, so a
     * step cannot jump over the guard gap), then bisect to the exact page */
    mov %rdi, %r13                     /* r13 = lowest page known mapped        */
    mov $PAGE_SIZE, %r14               /* r14 = step                            */
.Lgrow_step:
    mov %r13, %rdi
    sub %r14, %rdi
    cmp SLOT_FLOOR(%r8), %rdi
    jae .Lgrow_probe
    mov SLOT_FLOOR(%r8), %rdi          /* clamp to the floor                    */
.Lgrow_probe:
    cmp %r13, %rdi
    je .Lgrow_found                    /* r13 is the floor already              */
    PAGE_MAPPED
    jnz .Lgrow_bisect                  /* rdi unmapped: the end lies in between */
    mov %rdi, %r13
    shl $1, %r14
    cmp $GROW_STEP_MAX, %r14
    jbe .Lgrow_step
    mov $GROW_STEP_MAX, %r14
    jmp .Lgrow_step
.Lgrow_bisect:
    mov %rdi, %r15                     /* r15 = highest page known unmapped     */
.Lgrow_halve:
    mov %r13, %rdi
    sub %r15, %rdi
    cmp $PAGE_SIZE, %rdi
    jbe .Lgrow_found                   /* adjacent: r13 is the lowest mapped    */
    shr $1, %rdi
    and $PAGE_MASK, %rdi
    add %r15, %rdi                     /* rdi = midpoint page                   */
    PAGE_MAPPED
    jnz .Lgrow_unmapped
    mov %rdi, %r13
    jmp .Lgrow_halve
.Lgrow_unmapped:
    mov %rdi, %r15
    jmp .Lgrow_halve
.Lgrow_found:
    mov %r13, SLOT_LOW(%r8)
.Lgrow_out:
    ret
ENDFUNC scrub_step_grow

/*
 * scrub_step_scan_chunk — step 4: one mincore chunk
 *                                          [internal, leaf; scrub_stack only]
 *   in:  r8 = slot, r9 = vector, r10 = the chunk's end (> r13), r13 = low,
 *        r14 = trim line
 *   out: rax = -errno if mincore failed (nothing else done), else 0 and:
 *        r10 = the chunk's low end, max(low, r10 - VEC_BYTES pages); every
 *        resident page of [r10, old r10) is zero; those at or above the trim
 *        line are set in SLOT_REC_MASK; rsi = the chunk's page count;
 *        r15 = the lowest resident page below the trim line, or 0.
 *   clobbers: rax, rcx, rdx, rsi, rdi, r11, r15, flags.
 */
LOCALFUNC scrub_step_scan_chunk
    mov %r10, %rsi
    sub %r13, %rsi                     /* rsi = bytes left                      */
    cmp $(VEC_BYTES * PAGE_SIZE), %rsi
    jbe .Lchunk_sized
    mov $(VEC_BYTES * PAGE_SIZE), %esi
.Lchunk_sized:
    mov %r10, %rdi
    sub %rsi, %rdi                     /* rdi = chunk low                       */
    mov %rdi, %r10                     /* the next chunk ends here              */
    mov %r9, %rdx
    mov $SYS_mincore, %eax
    syscall                            /* clobbers rcx, r11                     */
    test %rax, %rax
    jnz .Lchunk_out                    /* -errno                                */
    shr $12, %rsi                      /* rsi = pages in this chunk             */
    mov %rsi, %r11                     /* r11 = page index + 1, counting down   */
    xor %r15d, %r15d                   /* r15 = lowest resident page below trim */
.Lchunk_page:
    cmp $8, %r11                       /* eight pages at once when none is      */
    jb .Lchunk_one                     /* resident (vector bytes are 0 or 1)    */
    cmpq $0, -8(%r9, %r11)
    jne .Lchunk_one
    sub $8, %r11
    jnz .Lchunk_page
    jmp .Lchunk_done
.Lchunk_one:
    testb $1, -1(%r9, %r11)            /* resident?                             */
    jz .Lchunk_next
    lea -1(%r11), %rdi
    shl $12, %rdi
    add %r10, %rdi                     /* rdi = page address                    */
    cmp %r14, %rdi
    jae .Lchunk_record
    mov %rdi, %r15                     /* below the trim line: give back later  */
    jmp .Lchunk_zero
.Lchunk_record:
    mov SLOT_REC_TOP(%r8), %rcx        /* within it: stays resident, recorded   */
    sub %rdi, %rcx
    shr $PAGE_SHIFT, %rcx
    dec %rcx                           /* rcx = page index below the top        */
    mov SLOT_REC_MASK(%r8), %rax
    bts %rcx, %rax
    mov %rax, SLOT_REC_MASK(%r8)
.Lchunk_zero:
    mov $(PAGE_SIZE / 8), %ecx
    xor %eax, %eax
    rep stosq
.Lchunk_next:
    dec %r11
    jnz .Lchunk_page
.Lchunk_done:
    xor %eax, %eax
.Lchunk_out:
    ret
ENDFUNC scrub_step_scan_chunk

/*
 * scrub_step_trim_chunk — step 5, per chunk: the zeroed deep pages
 *                                          [internal, leaf; scrub_stack only]
 *   in:  r8 = slot, r10 = the chunk's low end, rsi = its page count,
 *        r14 = trim line, r15 = its lowest resident page below the line (!= 0)
 *   out: while deep trims back off (SLOTF_KEEP_DEEP) the pages stay and the
 *        scan records nothing (SLOT_PENDING = -1); on the main thread
 *        SLOT_DEEP = 1 (scrub_step_trim_below unmaps them all); otherwise
 *        [r15, min(chunk end, trim line)) is given back (MADV_DONTNEED,
 *        SLOTF_DEEP_TRIMMED), or, if that fails, stays resident and zero and
 *        nothing is recorded.
 *   clobbers: rax, rcx, rdx, rsi, rdi, r11, flags.
 */
LOCALFUNC scrub_step_trim_chunk
    testq $SLOTF_KEEP_DEEP, SLOT_FLAGS(%r8)
    jnz .Ltrim_unrecorded              /* resident below the record: no record  */
    testq $SLOTF_GROWSDOWN, SLOT_FLAGS(%r8)
    jz .Ltrim_madvise
    movq $1, SLOT_DEEP(%r8)            /* main thread: scrub_step_trim_below    */
    ret
.Ltrim_madvise:
    mov %rsi, %rax
    shl $12, %rax
    add %r10, %rax                     /* rax = chunk end (rsi = page count)    */
    cmp %r14, %rax
    jbe .Ltrim_range
    mov %r14, %rax
.Ltrim_range:
    mov %r15, %rdi
    mov %rax, %rsi
    sub %rdi, %rsi
    mov $MADV_DONTNEED, %edx
    mov $SYS_madvise, %eax
    syscall
    test %rax, %rax
    jnz .Ltrim_unrecorded              /* still resident: record nothing        */
    orq $SLOTF_DEEP_TRIMMED, SLOT_FLAGS(%r8)
    ret
.Ltrim_unrecorded:
    movq $-1, SLOT_PENDING(%r8)
    ret
ENDFUNC scrub_step_trim_chunk

/*
 * scrub_step_trim_below — step 5, main thread after a deep scope
 *                                          [internal, leaf; scrub_stack only]
 *   in:  r8 = slot, r13 = low, r14 = trim line; the scan is complete
 *   out: if deep pages were found (SLOT_DEEP), everything below the trim
 *        line is zero: it is unmapped (the [stack] mapping grows back on
 *        demand, and unmapping also frees its page tables, which mincore
 *        would otherwise walk on every later scope); SLOT_LOW = trim line,
 *        SLOTF_DEEP_TRIMMED.  A failure leaves them resident, zero, and
 *        unrecorded (SLOT_PENDING = -1).
 *   clobbers: rax, rcx, rsi, rdi, r11, flags.
 */
LOCALFUNC scrub_step_trim_below
    cmpq $0, SLOT_DEEP(%r8)
    je .Lbelow_out
    mov %r13, %rdi
    cmp %r14, %rdi
    jae .Lbelow_out
    mov %r14, %rsi
    sub %rdi, %rsi
    mov $SYS_munmap, %eax
    syscall
    test %rax, %rax
    jz .Lbelow_unmapped
    movq $-1, SLOT_PENDING(%r8)        /* still resident: record nothing        */
    ret
.Lbelow_unmapped:
    mov %r14, SLOT_LOW(%r8)
    orq $SLOTF_DEEP_TRIMMED, SLOT_FLAGS(%r8)
.Lbelow_out:
    ret
ENDFUNC scrub_step_trim_below

/*
 * scrub_step_recorded_below — step 6: which recorded pages lie below top?
 *                                          [internal, leaf; scrub_stack only]
 *   in:  r8 = slot, r10 = top (not above SLOT_REC_TOP)
 *   out: eax = 0: every recorded page lies above top, nothing to do.
 *        eax = 1: r11 = the recorded pages below top, bit j = the page j+1
 *        pages below r10 (bit i of the record is the page i+1 pages below
 *        REC_TOP: shifted by the distance between the two tops); r14 = that
 *        distance in pages.
 *   clobbers: rax, rcx, r11, r14, flags.
 */
LOCALFUNC scrub_step_recorded_below
    mov SLOT_REC_TOP(%r8), %rcx
    sub %r10, %rcx
    shr $PAGE_SHIFT, %rcx              /* rcx = pages between the two tops      */
    xor %eax, %eax
    cmp $63, %rcx
    ja .Lrecorded_out                  /* all recorded pages lie above us       */
    mov %rcx, %r14                     /* r14 = that distance (the shift)       */
    mov SLOT_REC_MASK(%r8), %r11
    shr %cl, %r11                      /* r11 = recorded pages below r10        */
    mov $1, %eax
.Lrecorded_out:
    ret
ENDFUNC scrub_step_recorded_below

/*
 * scrub_step_check_recorded — step 6: check the recorded pages, zero the
 * written ones                             [internal, leaf; scrub_stack only]
 *
 * Each recorded page was zero after the last scan: reading a page that is
 * still zero is cheaper than writing it, and a page nobody wrote since is
 * idle (scrub_step_give_back_idle).  Only when a signal can be noticed
 * (rseq, signals.S) and its frame is known to fit the zone re-zeroed below.
 *   in:  r8 = slot, r10 = top, r11 = recorded pages below it (bit j = the
 *        page j+1 pages below r10)
 *   out: eax = 0: the check cannot run here (no rseq area, no
 *        FEAT_ZEROCHECK, or top within SIGFRAME_ZONE + a page of SLOT_LOW);
 *        nothing was done.
 *        eax = 1: every page of r11 is zero; r13 = those that were zero
 *        already (idle, bit j); ymm0-3 zero; if a signal may have been
 *        delivered since the outermost scope began, SIGFRAME_ZONE below rsp
 *        is zero too.
 *   clobbers: rax, rcx, rdx, rdi, r11, r13, ymm0-ymm3, flags.
 *
 * Signals.  PAGE_IS_ZERO ORs page contents into ymm0-3; a signal delivered
 * meanwhile saves them in its frame: on the alternate stack (signals.S
 * erases it: it sees the same rseq state), or right below this routine's
 * rsp, which stays the same from the first check to the re-zeroing (the
 * check is inline: no call goes deeper).  So zeroing [rsp - SIGFRAME_ZONE,
 * rsp) covers the red zone and the largest frame (common.inc); above rsp is
 * only our return address.
 */
LOCALFUNC scrub_step_check_recorded
    xor %eax, %eax
    cmpq $0, SLOT_RSEQ(%r8)
    je .Lcheck_out
    testq $FEAT_ZEROCHECK, ss_features(%rip)
    jz .Lcheck_out
    mov %r10, %rdx
    sub SLOT_LOW(%r8), %rdx
    cmp $(SIGFRAME_ZONE + PAGE_SIZE), %rdx
    jb .Lcheck_out                     /* too close to the low end: just zero   */
    xor %r13d, %r13d                   /* r13 = pages found idle (bit j)        */
.Lcheck_page:
    test %r11, %r11
    jz .Lcheck_done
    NEXT_RECORDED_PAGE                 /* rcx = j, rdi = its page               */
    mov %rcx, %rdx
    PAGE_IS_ZERO                       /* sequences.inc: ZF, rdi kept, rdx too  */
    jnz .Lcheck_written
    bts %rdx, %r13                     /* idle                                  */
    jmp .Lcheck_page
.Lcheck_written:
    mov $(PAGE_SIZE / 8), %ecx
    xor %eax, %eax
    rep stosq
    jmp .Lcheck_page
.Lcheck_done:
    vpxor %xmm0, %xmm0, %xmm0          /* the checked contents (VEX: whole ymm) */
    vpxor %xmm1, %xmm1, %xmm1
    vpxor %xmm2, %xmm2, %xmm2
    vpxor %xmm3, %xmm3, %xmm3
    mov SLOT_RSEQ(%r8), %rax
    lea rseq_descriptor(%rip), %rcx
    cmp %rcx, RSEQ_CS(%rax)
    je .Lcheck_quiet                   /* no signal since the scope began       */
    lea -SIGFRAME_ZONE(%rsp), %rdi
    mov %rsp, %rcx
    sub %rdi, %rcx
    xor %eax, %eax
    rep stosb
.Lcheck_quiet:
    mov $1, %eax
.Lcheck_out:
    ret
ENDFUNC scrub_step_check_recorded

/*
 * scrub_step_give_back_idle — step 6: give the idle recorded pages back
 *                                          [internal, leaf; scrub_stack only]
 *   in:  r8 = slot, r10 = top, r13 = idle pages (bit j = the page j+1 pages
 *        below r10, all zero), r14 = the shift from scrub_step_recorded_below
 *   out: not while backing off (SLOT_TRIM_SKIP, counted down): one madvise
 *        per run of adjacent idle pages, at most IDLE_RUNS_MAX; the record
 *        forgets each page given back (SLOTF_TRIMMED).  A page that could
 *        not be given back stays resident, zero and recorded.
 *   clobbers: rax, rcx, rdx, rsi, rdi, r9 (the vector is not needed any
 *        more), r11, r13, r15, flags.
 */
LOCALFUNC scrub_step_give_back_idle
    test %r13, %r13
    jz .Lidle_out
    cmpl $0, SLOT_TRIM_SKIP(%r8)
    je .Lidle_runs
    decl SLOT_TRIM_SKIP(%r8)
    ret
.Lidle_runs:
    mov $IDLE_RUNS_MAX, %r15d
.Lidle_run:
    test %r13, %r13
    jz .Lidle_out
    dec %r15d
    js .Lidle_out
    bsf %r13, %rcx                     /* j0: lowest bit = highest page of run  */
    mov %r13, %rdx
    not %rdx
    shr %cl, %rdx
    bsf %rdx, %rdx                     /* rdx = run length (a zero bit exists:  */
    jnz .Lidle_length                  /*  else the run reaches bit 63)         */
    mov $64, %edx
    sub %ecx, %edx
.Lidle_length:
    /* run = bits [j0, j0 + len): pages [r10 - (j0+len) pages, r10 - j0 pages) */
    mov %rdx, %rsi
    shl $PAGE_SHIFT, %rsi              /* rsi = run bytes                       */
    lea (%rcx, %rdx), %rdi
    shl $PAGE_SHIFT, %rdi
    neg %rdi
    add %r10, %rdi                     /* rdi = lowest page of the run          */
    mov $-1, %rax                      /* rax = run mask, bits [j0, j0 + len)   */
    cmp $64, %edx
    je .Lidle_mask
    mov %edx, %ecx
    mov $1, %eax
    shl %cl, %rax
    dec %rax
.Lidle_mask:
    bsf %r13, %rcx
    shl %cl, %rax
    not %rax
    and %rax, %r13                     /* done with this run                    */
    mov %rax, %r9                      /* r9 = ~run (kept across the syscall)   */
    mov $MADV_DONTNEED, %edx
    mov $SYS_madvise, %eax
    syscall
    mov %r9, %rdx
    test %rax, %rax
    jnz .Lidle_run                     /* still resident: stays recorded        */
    mov %r14, %rcx
    rol %cl, %rdx                      /* ~run in the record's bit numbering    */
    and %rdx, SLOT_REC_MASK(%r8)
    orq $SLOTF_TRIMMED, SLOT_FLAGS(%r8)
    jmp .Lidle_run
.Lidle_out:
    ret
ENDFUNC scrub_step_give_back_idle

/*
 * scrub_step_zero_recorded — step 6 without the check: zero them all
 *                                          [internal, leaf; scrub_stack only]
 *   in:  r10 = top, r11 = recorded pages below it (bit j = the page j+1
 *        pages below r10)
 *   out: each of them is zero.
 *   clobbers: rax (0), rcx, rdi, r11, flags.
 */
LOCALFUNC scrub_step_zero_recorded
    xor %eax, %eax
.Lzero_page:
    test %r11, %r11
    jz .Lzero_out
    NEXT_RECORDED_PAGE                 /* rcx = j, rdi = its page               */
    mov $(PAGE_SIZE / 8), %ecx
    rep stosq                          /* rax = 0                               */
    jmp .Lzero_page
.Lzero_out:
    ret
ENDFUNC scrub_step_zero_recorded

GNU_PROPERTY_NOTES
