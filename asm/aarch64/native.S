/*
 * native.S — zero every block native code obtains from the C allocator
 * (malloc and its family) while the calling thread is inside a scope, when
 * it is freed, whenever that is.  The AArch64 port of asm/x86_64/native.S,
 * with the same behaviour, routine for routine (read that file's header for
 * the design: families of next functions, the side table, the clamp to
 * malloc_usable_size, realloc by allocate/copy/zero/free, fork).
 *
 * A family's wrapper reaches its slow path with x17 = the family's row of
 * ss_native_next.  Tail calls to next functions use `br x16`, which a `bti c`
 * (or paciasp) landing pad accepts.  Atomics are load-/store-exclusive loops
 * (ARMv8.0, no LSE assumed), as in heap.S.  Zeroing stores zeros only
 * (nzero); realloc's copy uses heap.S's copy_block, which clears the
 * registers the data passed through.
 */
.include "common.inc"
.include "macros.inc"
.include "table.inc"

/* ==== native heap (issue 12): constants ================================== */
.equ ROW, KINDS * 8                /* K_*, KINDS, FAMILIES, NAPI_*: interface.inc */
.equ NTABLE_MIN, 4096             /* entries (16 bytes each): 64 KiB              */
.equ NTOMB, 1                     /* a removed entry                              */
.equ N_LOCK, 0                    /* native_state fields                          */
.equ N_FORK_OWNER, 8              /* thread pointer of the forking thread, or 0   */
.equ N_TABLE, 16
.equ N_CAP, 24
.equ N_USED, 32
.equ NHASH_SHIFT, 20
/* ========================================================================== */

.include "native.data.inc"          /* asm/shared: the exported data, both arches */
    .p2align 6
    LOCAL_ZEROED_OBJECT native_state, 40

    .text
.macro NSTATE reg
    adrp \reg, native_state
    add \reg, \reg, #:lo12:native_state
.endm

/* Take the table lock, unless the calling thread holds it for fork
 * (table.inc: SPIN_LOCK).  out: x9 = &native_state.  clobbers: x10-x12, flags. */
.macro NLOCK
    NSTATE x9
    SPIN_LOCK N_FORK_OWNER
.endm

/* Release it (unless held for fork by this thread).  clobbers: x9, x11, x12. */
.macro NUNLOCK
    NSTATE x9
    mrs x12, tpidr_el0
    ldr x11, [x9, #N_FORK_OWNER]
    cmp x11, x12
    b.eq .Lnunlock_skip\@
    stlr xzr, [x9]
.Lnunlock_skip\@:
.endm

/* ncap_for — x0 = live entries: a power of two >= 2 * live, >= NTABLE_MIN.
 *   out: x0.  clobbers: x1.  Leaf. */
LOCALFUNC ncap_for
    lsl x0, x0, #1
    mov x1, #NTABLE_MIN
.Lcap_double:
    cmp x1, x0
    b.hs .Lcap_done
    lsl x1, x1, #1
    b .Lcap_double
.Lcap_done:
    mov x0, x1
    ret
ENDFUNC ncap_for

/*
 * ntable_resize — rehash the live entries into a fresh mmap'd table of x0
 * entries, drop tombstones, munmap the old one.  Lock held, x9 = state.
 *   out: x0 = 0, or -1 if mmap failed (the old table is kept).
 *   clobbers: x0-x8, x10-x15, flags.  x9 preserved.  Leaf.
 */
LOCALFUNC ntable_resize
    mov x13, x0                         /* x13 = new capacity                   */
    TABLE_MMAP x13
    b.hs .Lresize_fail                  /* -errno                               */
    /* x14 = new table, x15/x10 = old table/capacity, x11 = new mask */
    TABLE_REPLACE x13, x14, x15, x10, x11, x12, NHASH_SHIFT, N_TABLE, N_CAP, N_USED, ss_native_tracked
    adrp x2, ss_native_stats
    add x2, x2, #:lo12:ss_native_stats
    str x13, [x2, #24]                  /* ss_native_stats[3] = capacity        */
    mov x0, #0
    ret
.Lresize_fail:
    mov x0, #-1
    ret
ENDFUNC ntable_resize

/*
 * ntable_insert — record (x0 = block, x1 = size); a key already present (a
 * stale record) gets the new size, never a second entry.  Lock held,
 * x9 = state.  out: x0 = 0, or -1 if the table could not grow.
 *   clobbers: x0-x8, x10-x15, flags.  x9 preserved.
 */
LOCALFUNC ntable_insert
    PROLOGUE 32
    stp x0, x1, [sp, #16]
    ldr x2, [x9, #N_USED]
    add x2, x2, #1
    lsl x2, x2, #2                      /* (used + 1) * 4                       */
    ldr x3, [x9, #N_CAP]
    add x3, x3, x3, lsl #1              /* capacity * 3                         */
    cmp x2, x3
    b.ls .Lnins_probe_start             /* keeps load (tombstones too) <= 3/4   */
    LDR_GLOBAL x0, ss_native_tracked
    add x0, x0, #1
    bl ncap_for
    bl ntable_resize
    cbnz x0, .Lnins_out
.Lnins_probe_start:
    ldp x0, x1, [sp, #16]
    ldr x3, [x9, #N_CAP]
    sub x3, x3, #1                      /* x3 = mask                            */
    ldr x4, [x9, #N_TABLE]
    mov x5, #0                          /* x5 = first tombstone seen, or 0      */
    TABLE_HASH x6, x0, NHASH_SHIFT
.Lnins_probe:
    and x6, x6, x3
    add x7, x4, x6, lsl #4              /* x7 = entry                           */
    ldr x8, [x7]
    cmp x8, x0
    b.eq .Lnins_update
    cbz x8, .Lnins_absent               /* empty: the key is absent             */
    cmp x8, #NTOMB
    b.ne .Lnins_next
    cbnz x5, .Lnins_next
    mov x5, x7
.Lnins_next:
    add x6, x6, #1
    b .Lnins_probe
.Lnins_absent:
    cbnz x5, .Lnins_store
    mov x5, x7                          /* no tombstone on the way: this entry  */
    ldr x8, [x9, #N_USED]
    add x8, x8, #1
    str x8, [x9, #N_USED]
.Lnins_store:
    stp x0, x1, [x5]
    LOCKED_ADD ss_native_tracked, #1, x8, x10
    mov x0, #0
    RETURN 32
.Lnins_update:
    str x1, [x7, #8]
    mov x0, #0
.Lnins_out:
    RETURN 32
ENDFUNC ntable_insert

/*
 * ntable_lookup — find block x0.  Lock held, x9 = state.
 *   out: x0 = its entry, or 0.  clobbers: x0-x5, flags.  Leaf.
 */
LOCALFUNC ntable_lookup
    TABLE_FIND N_CAP, N_TABLE, NHASH_SHIFT, .Llookup_absent, x1, x2, x3, x4, x5
    mov x0, x4
    ret
.Llookup_absent:
    mov x0, #0
    ret
ENDFUNC ntable_lookup

/*
 * nuntrack — forget block x0 (takes the lock); shrinks the table when the
 * live count fell below 1/8 of it.  out: x0 = the recorded size, or -1.
 *   clobbers: x0-x15, flags.
 */
LOCALFUNC nuntrack
    ENTER 32, x19
    NLOCK
    bl ntable_lookup
    cbz x0, .Lnuntrack_absent
    mov x1, #NTOMB
    str x1, [x0]
    ldr x19, [x0, #8]                   /* x19 = size                           */
    LOCKED_ADD ss_native_tracked, #-1, x2, x3   /* x3 = live entries      */
    ldr x4, [x9, #N_CAP]
    cmp x4, #NTABLE_MIN
    b.ls .Lnuntrack_unlock
    cmp x4, x3, lsl #3
    b.ls .Lnuntrack_unlock              /* live * 8 >= capacity: keep it        */
    mov x0, x3
    bl ncap_for
    bl ntable_resize                    /* a failure keeps the larger table     */
.Lnuntrack_unlock:
    NUNLOCK
    mov x0, x19
    b .Lnuntrack_out
.Lnuntrack_absent:
    NUNLOCK
    mov x0, #-1
.Lnuntrack_out:
    LEAVE_RETURN 32, x19
ENDFUNC nuntrack

/* ntrack — record block x0 of x1 bytes (takes the lock).
 *   out: x0 = 0, or -1.  clobbers: x0-x15, flags. */
LOCALFUNC ntrack
    PROLOGUE 16
    NLOCK
    bl ntable_insert
    mov x13, x0
    NUNLOCK
    mov x0, x13
    RETURN 16
ENDFUNC ntrack

/* nrecorded — the recorded size of block x0, or -1 (takes the lock).
 *   clobbers: x0-x5, x9-x13, flags. */
LOCALFUNC nrecorded
    PROLOGUE 16
    NLOCK
    bl ntable_lookup
    mov x13, #-1
    cbz x0, .Lnrecorded_unlock
    ldr x13, [x0, #8]
.Lnrecorded_unlock:
    NUNLOCK
    mov x0, x13
    RETURN 16
ENDFUNC nrecorded

/* nclamp — x0 = block, x1 = bytes: min(x1, malloc_usable_size(x0)).
 *   out: x0.  clobbers: caller-saved registers. */
LOCALFUNC nclamp
    PROLOGUE 32
    str x1, [sp, #16]
    LDR_GLOBAL x16, ss_native_api, NAPI_USABLE
    blr x16
    ldr x1, [sp, #16]
    cmp x0, x1
    csel x0, x0, x1, ls
    RETURN 32
ENDFUNC nclamp

/* nzero — zero x1 bytes at x0 (stores only) and count them.
 *   clobbers: x2, x3, x9-x11, flags.  x0, x1 preserved.  Leaf. */
LOCALFUNC nzero
    mov x2, x0
    add x3, x0, x1                      /* x3 = end                             */
    ZERO_TO_16 x2, x3, .Lnzero_count    /* head, to 16-byte alignment           */
.Lnzero_16:
    sub x9, x3, x2
    cmp x9, #16
    b.lo .Lnzero_tail
    stp xzr, xzr, [x2], #16
    b .Lnzero_16
.Lnzero_tail:
    ZERO_TAIL x2, x3
.Lnzero_count:
    COUNT_ZEROED ss_native_stats
    ret
ENDFUNC nzero

/* errno = ENOMEM through __errno_location.  clobbers: caller-saved. */
LOCALFUNC nset_enomem
    PROLOGUE 16
    LDR_GLOBAL x16, ss_native_api, NAPI_ERRNO
    blr x16
    mov w1, #ENOMEM
    str w1, [x0]
    RETURN 16
ENDFUNC nset_enomem

/*
 * nkeep — block x19 (not NULL) of x20 bytes, from the allocator of row
 * x21: recorded when this thread is inside a scope.          [internal]
 *   out: x0 = 0 (recorded, or not in a scope); or -1: it could not be
 *        recorded, so it was freed again and counted in ss_native_stats[2]
 *        (the caller refuses the allocation).
 *   in/kept: x19-x21 (a slow path's frame).  clobbers: caller-saved.
 */
LOCALFUNC nkeep
    PROLOGUE 16
    bl ss_thread_depth                  /* threads.S                            */
    cbz x0, .Lnkeep_out
    mov x0, x19
    mov x1, x20
    bl ntrack
    cbz x0, .Lnkeep_out
    ATOMIC_ADD ss_native_stats, 16, #1, x9, x10, w11
    mov x0, x19
    ldr x16, [x21, #(K_FREE * 8)]
    blr x16
    mov x0, #-1
.Lnkeep_out:
    RETURN 16
ENDFUNC nkeep

/*
 * nretire — forget block x19 (a recorded one, or not) and zero all x22 of
 * its bytes: the old block of a realloc, before it is freed.  [internal]
 *   in/kept: x19, x22.  clobbers: caller-saved.
 */
LOCALFUNC nretire
    PROLOGUE 16
    mov x0, x19
    bl nuntrack
    mov x0, x19
    mov x1, x22
    bl nzero
    RETURN 16
ENDFUNC nretire

/*
 * Slow paths, reached by a branch from a family's wrapper with the C
 * arguments untouched and x17 = the family's row.  Those that return a block
 * share one frame: x29+16 x19 (block), x20 (size to record); x29+32 x21 (row),
 * x22.
 */
.macro SLOW_ENTRY
    ENTER 48, x19, x20, x21, x22
    mov x21, x17
.endm

LOCALFUNC native_malloc_slow
    SLOW_ENTRY
    mov x20, x0
    ldr x16, [x21, #(K_MALLOC * 8)]
    blr x16
.Lnative_record:                        /* x0 = block, x20 = size, x21 = row    */
    mov x19, x0
    cbz x0, .Lnative_record_out
    bl nkeep
    cbz x0, .Lnative_record_out
    bl nset_enomem                      /* refused                              */
    mov x19, #0
.Lnative_record_out:
    mov x0, x19
    LEAVE_RETURN 48, x19, x20, x21, x22
ENDFUNC native_malloc_slow

/* calloc(n = x0, size = x1) */
LOCALFUNC native_calloc_slow
    SLOW_ENTRY
    mul x20, x0, x1                     /* an overflow makes calloc fail        */
    ldr x16, [x21, #(K_CALLOC * 8)]
    blr x16
    b .Lnative_record
ENDFUNC native_calloc_slow

/* aligned_alloc / memalign (alignment = x0, size = x1) */
LOCALFUNC native_aligned_alloc_slow
    SLOW_ENTRY
    mov x20, x1
    ldr x16, [x21, #(K_ALIGNED_ALLOC * 8)]
    blr x16
    b .Lnative_record
ENDFUNC native_aligned_alloc_slow
LOCALFUNC native_memalign_slow
    SLOW_ENTRY
    mov x20, x1
    ldr x16, [x21, #(K_MEMALIGN * 8)]
    blr x16
    b .Lnative_record
ENDFUNC native_memalign_slow

/* valloc(size = x0); pvalloc(size = x0) records the size rounded to pages */
LOCALFUNC native_valloc_slow
    SLOW_ENTRY
    mov x20, x0
    ldr x16, [x21, #(K_VALLOC * 8)]
    blr x16
    b .Lnative_record
ENDFUNC native_valloc_slow
LOCALFUNC native_pvalloc_slow
    SLOW_ENTRY
    LDR_GLOBAL x2, ss_native_api, NAPI_PAGE
    sub x2, x2, #1
    add x20, x0, x2
    bic x20, x20, x2                    /* x20 = size rounded up to a page      */
    ldr x16, [x21, #(K_PVALLOC * 8)]
    blr x16
    b .Lnative_record
ENDFUNC native_pvalloc_slow

/* int posix_memalign(void **memptr = x0, size_t alignment = x1, size_t size = x2) */
LOCALFUNC native_posix_memalign_slow
    SLOW_ENTRY
    mov x22, x0                         /* x22 = memptr                         */
    mov x20, x2
    ldr x16, [x21, #(K_POSIX_MEMALIGN * 8)]
    blr x16
    cbnz w0, .Lmemalign_out             /* its error code, returned as it is    */
    ldr x19, [x22]
    bl nkeep
    cbz x0, .Lmemalign_out              /* w0 = 0                               */
    str xzr, [x22]                      /* refused                              */
    mov w0, #ENOMEM
.Lmemalign_out:
    LEAVE_RETURN 48, x19, x20, x21, x22
ENDFUNC native_posix_memalign_slow

/* free(block = x0): a recorded block is zeroed first */
LOCALFUNC native_free_slow
    cbnz x0, .Lnfree_block
    ldr x16, [x17, #(K_FREE * 8)]       /* free(NULL)                           */
    br x16
.Lnfree_block:
    ENTER 32, x19, x20
    mov x19, x0
    mov x20, x17
    bl nuntrack
    cmn x0, #1
    b.eq .Lnfree_next                   /* not recorded                         */
    mov x1, x0
    mov x0, x19
    bl nclamp
    mov x1, x0
    mov x0, x19
    bl nzero
.Lnfree_next:
    mov x0, x19
    mov x17, x20
    LEAVE 32, x19, x20
    ldr x16, [x17, #(K_FREE * 8)]
    br x16                              /* tail call: the block is the allocator's */
ENDFUNC native_free_slow

/*
 * realloc(block = x0, size = x1): as asm/x86_64/native.S.  A block that is
 * recorded, or any block inside a scope, is moved by nrealloc_move (or freed
 * by nrealloc_zero_size for size 0); any other goes to the next realloc.
 * Frame, shared with those two (they work in it): x19 old block, x20 new
 * size, x21 row, x22 old block's usable bytes, x23 new block.
 */
LOCALFUNC native_realloc_slow
    cbnz x0, .Lnrealloc_block
    mov x0, x1                          /* realloc(NULL, n) is malloc(n)        */
    b native_malloc_slow
.Lnrealloc_block:
    ENTER 64, x19, x20, x21, x22, x23, x24
    mov x19, x0
    mov x20, x1
    mov x21, x17
    bl nrecorded
    cmn x0, #1
    b.ne .Lnrealloc_ours
    bl ss_thread_depth
    cbz x0, .Lnrealloc_plain            /* not ours, not in a scope             */
.Lnrealloc_ours:
    mov x0, x19                         /* x22 = all of the old block's bytes   */
    LDR_GLOBAL x16, ss_native_api, NAPI_USABLE
    blr x16
    mov x22, x0
    cbz x20, .Lnrealloc_zero_size
    bl nrealloc_move
    b .Lnrealloc_out
.Lnrealloc_zero_size:
    bl nrealloc_zero_size
    b .Lnrealloc_out
.Lnrealloc_plain:
    mov x0, x19
    mov x1, x20
    mov x17, x21
    LEAVE 64, x19, x20, x21, x22, x23, x24
    ldr x16, [x17, #(K_REALLOC * 8)]
    br x16
    RESUME
.Lnrealloc_out:
    LEAVE_RETURN 64, x19, x20, x21, x22, x23, x24
ENDFUNC native_realloc_slow

/*
 * nrealloc_move — realloc to x20 > 0 bytes by malloc, record, copy, zero
 * and free (native_realloc_slow's frame: x19 old block, x20 new size, x21
 * row, x22 old block's usable bytes).                         [internal]
 *   out: x0 = the new block; or NULL with errno set, the old block kept
 *        (malloc failed; or the new block could not be recorded: freed
 *        again, counted in ss_native_stats[2], ENOMEM).
 *   sets x23 = the new block.  clobbers: caller-saved.
 */
LOCALFUNC nrealloc_move
    PROLOGUE 16
    mov x0, x20
    ldr x16, [x21, #(K_MALLOC * 8)]
    blr x16
    cbz x0, .Lnmove_out                 /* errno set by malloc; old block kept  */
    mov x23, x0
    mov x1, x20
    bl ntrack
    cbnz x0, .Lnmove_unrecordable
    mov x0, x23                         /* copy min(old, new) bytes             */
    mov x1, x19
    cmp x22, x20
    csel x2, x22, x20, ls
    bl copy_block                       /* heap.S; clears the data registers   */
    bl nretire
    mov x0, x19
    ldr x16, [x21, #(K_FREE * 8)]
    blr x16
    mov x0, x23
    RETURN 16
.Lnmove_unrecordable:
    ATOMIC_ADD ss_native_stats, 16, #1, x9, x10, w11
    mov x0, x23
    ldr x16, [x21, #(K_FREE * 8)]
    blr x16
    bl nset_enomem
    mov x0, #0
.Lnmove_out:
    RETURN 16
ENDFUNC nrealloc_move

/*
 * nrealloc_zero_size — realloc(block, 0) (native_realloc_slow's frame: x19
 * old block, x21 row, x22 its usable bytes): the old block is forgotten and
 * zeroed, then the next realloc frees it (or returns a minimal block, which
 * is recorded, with size 0, inside a scope).                  [internal]
 *   out: x0 = what the next realloc returned.  clobbers: caller-saved;
 *   sets x19 = the same.
 */
LOCALFUNC nrealloc_zero_size
    PROLOGUE 16
    bl nretire
    mov x0, x19
    mov x1, #0
    ldr x16, [x21, #(K_REALLOC * 8)]
    blr x16
    mov x19, x0                         /* NULL (freed), or a minimal block     */
    cbz x0, .Lnzero_size_out
    bl ss_thread_depth
    cbz x0, .Lnzero_size_out
    mov x0, x19
    mov x1, #0
    bl ntrack
.Lnzero_size_out:
    mov x0, x19
    RETURN 16
ENDFUNC nrealloc_zero_size

/* reallocarray(block = x0, n = x1, size = x2): realloc(block, n * size), or
 * NULL with errno = ENOMEM when the product overflows. */
LOCALFUNC native_reallocarray_slow
    umulh x3, x1, x2
    cbnz x3, 1f
    mul x1, x1, x2
    b native_realloc_slow
1:  PROLOGUE 16
    bl nset_enomem
    mov x0, #0
    RETURN 16
ENDFUNC native_reallocarray_slow

/* The wrappers: FAMILIES copies of each, ss_native_<kind>_<family>. */
/* The wrapper ss_native_\name_\fam: a tail call to the family's next
 * function of kind \kind while the word at \gate (or \gate | \gate2) is 0;
 * otherwise to \slow with x17 = the family's row. */
.macro WRAPPER name, kind, fam, slow, gate, gate2
FUNC ss_native_\name\()_\fam
    LDR_GLOBAL x16, \gate
    .ifnb \gate2
    LDR_GLOBAL x17, \gate2
    orr x16, x16, x17
    .endif
    cbnz x16, .Lslow_\name\()_\fam
    LDR_GLOBAL x16, ss_native_next, (\fam * ROW + \kind * 8)
    br x16
.Lslow_\name\()_\fam:
    adrp x17, (ss_native_next + \fam * ROW)
    add x17, x17, #:lo12:(ss_native_next + \fam * ROW)
    b \slow
ENDFUNC ss_native_\name\()_\fam
.endm
.macro ALLOC_WRAPPER name, kind, fam
    WRAPPER \name, \kind, \fam, native_\name\()_slow, ss_heap_active
.endm
.macro FREE_WRAPPER fam
    WRAPPER free, K_FREE, \fam, native_free_slow, ss_native_tracked
.endm
.macro REALLOC_WRAPPER name, kind, fam
    WRAPPER \name, \kind, \fam, native_\name\()_slow, ss_heap_active, ss_native_tracked
.endm

.irp fam, 0, 1, 2, 3
    NATIVE_WRAPPERS \fam              /* interface.inc: one wrapper per K_* column */
.endr

/* void ss_native_atfork_prepare(void) / ss_native_atfork_release(void)
 *                                                [pthread_atfork handlers]
 * As on x86-64.  clobbers: x9-x12, flags. */
FUNC ss_native_atfork_prepare
    NSTATE x9
    SPIN_LOCK N_FORK_OWNER              /* already ours: registered twice (a
                                           second interpreter)                  */
    mrs x12, tpidr_el0
    str x12, [x9, #N_FORK_OWNER]        /* (the same value when already ours)   */
    ret
ENDFUNC ss_native_atfork_prepare

FUNC ss_native_atfork_release
    NSTATE x9
    str xzr, [x9, #N_FORK_OWNER]
    stlr xzr, [x9]
    ret
ENDFUNC ss_native_atfork_release

/*
 * int ss_native_collect(struct dl_phdr_info *info, size_t size, uint64_t *out)
 *                                             [dl_iterate_phdr callback]
 * As on x86-64 (the same struct layout on LP64).  clobbers: x0-x8, flags.
 */
FUNC ss_native_collect
    cmp x1, #48
    b.lo 1f
    ldp x3, x4, [x0, #32]               /* dlpi_adds, dlpi_subs                 */
    stp x3, x4, [x2, #16]
1:  ldp x5, x6, [x2]                    /* x5 = capacity, x6 = index            */
    add x7, x6, #1
    str x7, [x2, #8]
    cbz x5, .Lncollect_stop
    cmp x6, x5
    b.hs .Lncollect_more                /* full: counted, not copied            */
    mov x7, #COLLECT_ENTRY
    madd x8, x6, x7, x2
    add x8, x8, #32                     /* x8 = entry                           */
    ldr x3, [x0]
    str x3, [x8]                        /* dlpi_addr                            */
    ldr x3, [x0, #16]
    str x3, [x8, #8]                    /* dlpi_phdr                            */
    ldrh w3, [x0, #24]
    str x3, [x8, #16]                   /* dlpi_phnum                           */
    ldr x4, [x0, #8]                    /* dlpi_name (may be NULL)              */
    add x8, x8, #24
    mov x5, #0
    cbz x4, 3f
2:  cmp x5, #(COLLECT_NAME - 1)
    b.hs 3f
    ldrb w3, [x4, x5]
    cbz w3, 3f
    strb w3, [x8, x5]
    add x5, x5, #1
    b 2b
3:  strb wzr, [x8, x5]
.Lncollect_more:
    mov w0, #0
    ret
.Lncollect_stop:
    mov w0, #1
    ret
ENDFUNC ss_native_collect

/* uint64_t ss_native_recorded(void *block)                     [ctypes, tests] */
FUNC ss_native_recorded
    PROLOGUE 16
    bl nrecorded
    RETURN 16
ENDFUNC ss_native_recorded

GNU_PROPERTY_NOTES
