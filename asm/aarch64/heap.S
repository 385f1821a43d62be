/*
 * heap.S — zero every PyMem/PyObject block allocated inside a scope when it
 * is freed, whenever that is.  The AArch64 port of asm/x86_64/heap.S, with
 * the same behaviour, routine for routine.
 *
 * _heap.py installs ss_heap_{malloc,calloc,realloc,free} with
 * PyMem_SetAllocator over the allocator that was current for the PyMem and
 * PyObject domains (as tracemalloc does); the one wrapped is copied into
 * ss_heap_domains and each wrapper receives its domain's copy as ctx.
 *
 * Blocks allocated while the calling thread is inside a scope are recorded in
 * a side table (pointer -> requested size; no header in front of blocks).
 * free() of a recorded block zeroes it, then frees it.  realloc() of a
 * recorded block never lets the allocator move it: it allocates, copies,
 * zeroes and frees the old block itself.
 *
 * Cost outside scopes: malloc/calloc test ss_heap_active (threads inside a
 * scope, anywhere), free tests ss_heap_tracked (recorded blocks alive), and
 * tail-call the wrapped allocator when they are zero: one load and a branch.
 * The tail calls use `br x16`, which a `bti c` (or paciasp) landing pad in the
 * wrapped allocator accepts.
 *
 * The table is open addressing over mmap'd memory (no libc), guarded by a
 * spinlock: allocator domains must be thread-safe (several interpreters
 * allocate at once since 3.12).  The lock is never held across a call into
 * the wrapped allocator.  Atomics are load-/store-exclusive loops (ARMv8.0,
 * no LSE assumed): the lock is taken with LDAXR/STXR (acquire) and released
 * with STLR (release); the counters ss_heap_active and ss_heap_stats are
 * updated with LDXR/STXR.  ss_heap_tracked and the table fields are written
 * only under the lock; the unlocked fast-path reads of ss_heap_active and
 * ss_heap_tracked are single-copy-atomic 64-bit loads.
 *
 * Zeroing (zero_block) stores zeros with strb/stp of the zero register and
 * DC ZVA: it never loads block contents.  The one place contents pass through
 * registers is realloc's copy (copy_block), which clears them afterwards.
 */
.include "common.inc"
.include "macros.inc"
.include "table.inc"

.equ TABLE_MIN, 65536             /* entries (16 bytes each): 1 MiB                */
.equ TOMBSTONE, 1                 /* a removed entry (no block lives at address 1) */
.equ HASH_SHIFT, 20               /* index = (key * golden) >> 20, masked          */

/* heap_state fields */
.equ H_LOCK, 0                    /* 0 free, 1 held                                */
.equ H_TABLE, 8                   /* entries: {uint64 key, uint64 size}            */
.equ H_CAP, 16                    /* entries, a power of two (0: no table yet)     */
.equ H_USED, 24                   /* live entries + tombstones                     */

.include "heap.data.inc"          /* asm/shared: the data, both arches */

    .p2align 6
    LOCAL_ZEROED_OBJECT heap_state, 32 /* H_* above; its own cache line                 */

    .text
/* x9 = &heap_state. */
.macro HEAP_STATE
    adrp x9, heap_state
    add x9, x9, #:lo12:heap_state
.endm

/* Take the table spinlock (table.inc: SPIN_LOCK).
 * out: x9 = &heap_state.  clobbers: x10, x11, flags. */
.macro TABLE_LOCK
    HEAP_STATE
    SPIN_LOCK
.endm

/* Release the table spinlock (STLR: every table access happens before it).
 * clobbers: x9. */
.macro TABLE_UNLOCK
    HEAP_STATE
    stlr xzr, [x9]                      /* H_LOCK = 0                           */
.endm

/* Tail-call the wrapped allocator's \field of domain x0 (x0 becomes its ctx;
 * x1, x2 are passed through).  Never returns here. */
.macro TAIL_CALL_WRAPPED field
    ldr x16, [x0, #\field]
    ldr x0, [x0, #DOM_CTX]
    br x16                              /* x16: a `bti c` landing pad accepts it */
.endm

/* Call the wrapped allocator's \field of the domain in x21 (x0 = its ctx;
 * x1, x2 must be set by the caller). */
.macro CALL_WRAPPED field
    ldr x16, [x21, #\field]
    ldr x0, [x21, #DOM_CTX]
    blr x16
.endm

/*
 * table_grow — rehash into a fresh mmap'd table of four times the live
 * count (at least TABLE_MIN entries), dropping tombstones.  Called with the
 * lock held.                                            [internal, leaf]
 *   out: x0 = 0, or -1 if mmap failed (the old table is kept)
 *   clobbers: x0-x8, x9-x16, flags.  Uses no stack.  The registers only ever
 *   hold block addresses and sizes, never block contents.
 */
LOCALFUNC table_grow
    HEAP_STATE                          /* x9 = &heap_state                     */
    LDR_GLOBAL x10, ss_heap_tracked
    lsl x10, x10, #2                    /* live * 4: load <= 1/4 after the rehash */
    mov x11, #TABLE_MIN
.Lgrow_size:
    cmp x11, x10
    b.hs .Lgrow_map
    lsl x11, x11, #1
    b .Lgrow_size
.Lgrow_map:                             /* x11 = new capacity                   */
    TABLE_MMAP x11
    b.hs .Lgrow_failed                  /* -errno                               */
    /* x12 = new table, x13/x14 = old table/capacity, x15 = new mask */
    TABLE_REPLACE x11, x12, x13, x14, x15, x1, HASH_SHIFT, H_TABLE, H_CAP, H_USED, ss_heap_tracked
    mov x0, #0
    ret
.Lgrow_failed:
    mov x0, #-1
    ret
ENDFUNC table_grow

/*
 * table_insert — record block x0 of x1 bytes.  Called with the lock held.
 *                                                                [internal]
 *   out: x0 = 0, or -1 if the table could not grow (mmap failed)
 *   clobbers: x0-x16, flags.
 */
LOCALFUNC table_insert
    PROLOGUE 32
    HEAP_STATE
    ldr x10, [x9, #H_USED]
    add x10, x10, #1
    lsl x10, x10, #1
    ldr x11, [x9, #H_CAP]
    cmp x10, x11                        /* keep load (tombstones too) <= 1/2    */
    b.ls .Linsert_probe_start
    stp x0, x1, [sp, #16]
    bl table_grow
    mov x10, x0
    ldp x0, x1, [sp, #16]
    cbnz x10, .Linsert_failed
    HEAP_STATE                          /* table_grow clobbered x9              */
.Linsert_probe_start:
    ldr x11, [x9, #H_CAP]
    sub x11, x11, #1                    /* x11 = mask                           */
    ldr x12, [x9, #H_TABLE]
    TABLE_HASH x13, x0, HASH_SHIFT
.Linsert_probe:
    and x13, x13, x11
    add x14, x12, x13, lsl #4           /* x14 = &table[index]                  */
    ldr x15, [x14]
    cmp x15, #TOMBSTONE
    b.ls .Linsert_take                  /* empty (0) or tombstone (1): take it  */
    add x13, x13, #1
    b .Linsert_probe
.Linsert_take:
    cbnz x15, .Linsert_store
    ldr x15, [x9, #H_USED]              /* a fresh slot: one more used          */
    add x15, x15, #1
    str x15, [x9, #H_USED]
.Linsert_store:
    stp x0, x1, [x14]
    LOCKED_ADD ss_heap_tracked, #1, x15, x10
    mov x0, #0
    b .Linsert_out
.Linsert_failed:
    mov x0, #-1
.Linsert_out:
    RETURN 32
ENDFUNC table_insert

/*
 * table_remove — forget block x0.  Called with the lock held.
 *                                                       [internal, leaf]
 *   out: x0 = its recorded size, or -1 if it is not recorded
 *   clobbers: x0, x9-x15, flags.  x1-x8 are preserved.
 */
LOCALFUNC table_remove
    HEAP_STATE
    TABLE_FIND H_CAP, H_TABLE, HASH_SHIFT, .Lremove_absent, x11, x12, x13, x14, x15
    mov x15, #TOMBSTONE                 /* x14 = its entry                      */
    str x15, [x14]
    ldr x0, [x14, #8]
    LOCKED_ADD ss_heap_tracked, #-1, x15, x10
    ret
.Lremove_absent:
    mov x0, #-1
    ret
ENDFUNC table_remove

/*
 * track — record block x0 of x1 bytes (takes the lock).          [internal]
 *   out: x0 = 0, or -1 if it could not be recorded
 *   clobbers: x0-x16, flags.
 */
LOCALFUNC track
    PROLOGUE 16
    TABLE_LOCK                          /* x0, x1 untouched                     */
    bl table_insert
    TABLE_UNLOCK                        /* x0 untouched                         */
    RETURN 16
ENDFUNC track

/*
 * untrack — forget block x0 (takes the lock); give memory back when the
 * table has emptied: fewer than an eighth of its capacity live, and larger
 * than TABLE_MIN, it is rehashed into a table four times the live count
 * (table_grow sizes it so) and the old one is unmapped, so that a scope that
 * recorded millions of blocks does not keep their table once they are freed
 * (if mmap fails the old table is kept: it works).               [internal]
 *   out: x0 = the recorded size, or -1
 *   clobbers: x0, x9-x16, flags.  x1-x8 are preserved.
 */
LOCALFUNC untrack
    PROLOGUE 96
    TABLE_LOCK
    bl table_remove
    cmn x0, #1
    b.eq .Luntrack_out
    HEAP_STATE
    ldr x10, [x9, #H_CAP]
    mov x11, #TABLE_MIN
    cmp x10, x11
    b.ls .Luntrack_out                  /* the smallest table stays             */
    LDR_GLOBAL x11, ss_heap_tracked
    lsl x11, x11, #3
    cmp x11, x10
    b.hs .Luntrack_out                  /* live * 8 >= capacity: keep it        */
    stp x0, x1, [sp, #16]               /* table_grow clobbers x0-x16           */
    stp x2, x3, [sp, #32]
    stp x4, x5, [sp, #48]
    stp x6, x7, [sp, #64]
    str x8, [sp, #80]
    bl table_grow
    ldp x0, x1, [sp, #16]
    ldp x2, x3, [sp, #32]
    ldp x4, x5, [sp, #48]
    ldp x6, x7, [sp, #64]
    ldr x8, [sp, #80]
.Luntrack_out:
    TABLE_UNLOCK
    RETURN 96
ENDFUNC untrack

/*
 * zero_block — zero x1 bytes at x0, exactly [x0, x0 + x1), and count it in
 * ss_heap_stats[0..1].                                  [internal, leaf]
 *   Bytes up to 16-byte alignment with strb, 16 at a time with stp xzr, xzr,
 *   whole DC ZVA blocks inside the range with DC ZVA (when ss_zva_size is not
 *   0), the tail with strb: only zeros are stored, nothing is loaded.
 *   clobbers: x2-x7, x9-x11, flags.  x0, x1 are preserved.  Uses no stack.
 */
LOCALFUNC zero_block
    add x2, x0, x1                      /* x2 = end                             */
    mov x3, x0                          /* x3 = cursor                          */
    ZERO_TO_16 x3, x2, .Lzero_count     /* head: up to 16-byte alignment        */
    LDR_GLOBAL x4, ss_zva_size          /* x4 = DC ZVA block (>= 16), or 0      */
    cbz x4, .Lzero_64
    sub x5, x4, #1
    add x6, x3, x5
    bic x6, x6, x5                      /* x6 = first ZVA boundary >= cursor    */
    bic x7, x2, x5                      /* x7 = last ZVA boundary <= end        */
    cmp x6, x7
    b.hs .Lzero_64                      /* no whole ZVA block inside the range  */
.Lzero_to_zva:
    cmp x3, x6                          /* 16 at a time up to the boundary      */
    b.hs .Lzero_zva
    stp xzr, xzr, [x3], #16
    b .Lzero_to_zva
.Lzero_zva:
    dc zva, x3                          /* whole blocks                         */
    add x3, x3, x4
    cmp x3, x7
    b.lo .Lzero_zva
.Lzero_64:
    sub x5, x2, x3                      /* x5 = bytes left: 64 at a time, ...   */
    cmp x5, #64
    b.lo .Lzero_16
    stp xzr, xzr, [x3]
    stp xzr, xzr, [x3, #16]
    stp xzr, xzr, [x3, #32]
    stp xzr, xzr, [x3, #48]
    add x3, x3, #64
    b .Lzero_64
.Lzero_16:
    cmp x5, #16                         /* ... then 16 at a time                */
    b.lo .Lzero_bytes
    stp xzr, xzr, [x3], #16
    sub x5, x5, #16
    b .Lzero_16
.Lzero_bytes:
    ZERO_TAIL x3, x2                   /* tail                                 */
.Lzero_count:
    COUNT_ZEROED ss_heap_stats
    ret
ENDFUNC zero_block

/*
 * copy_block — copy x2 bytes from x1 to x0 (distinct blocks).
 *                                                       [internal, leaf]
 *   The data passes through x3-x10, which are zeroed before returning.
 *   clobbers: x0-x10, flags.  Uses no stack.
 */
LOCALFUNC copy_block
.Lcopy_64:
    cmp x2, #64
    b.lo .Lcopy_16
    ldp x3, x4, [x1]
    ldp x5, x6, [x1, #16]
    ldp x7, x8, [x1, #32]
    ldp x9, x10, [x1, #48]
    stp x3, x4, [x0]
    stp x5, x6, [x0, #16]
    stp x7, x8, [x0, #32]
    stp x9, x10, [x0, #48]
    add x1, x1, #64
    add x0, x0, #64
    sub x2, x2, #64
    b .Lcopy_64
.Lcopy_16:
    cmp x2, #16
    b.lo .Lcopy_bytes
    ldp x3, x4, [x1], #16
    stp x3, x4, [x0], #16
    sub x2, x2, #16
    b .Lcopy_16
.Lcopy_bytes:
    cbz x2, .Lcopy_clear
    ldrb w3, [x1], #1
    strb w3, [x0], #1
    sub x2, x2, #1
    b .Lcopy_bytes
.Lcopy_clear:
    mov x3, #0                          /* no block contents left in registers  */
    mov x4, #0
    mov x5, #0
    mov x6, #0
    mov x7, #0
    mov x8, #0
    mov x9, #0
    mov x10, #0
    ret
ENDFUNC copy_block

/*
 * void *ss_heap_malloc(void *ctx, size_t size)       [PyMemAllocatorEx.malloc]
 * void *ss_heap_calloc(void *ctx, size_t n, size_t elsize)        [.calloc]
 *   in:  x0 = ctx = this domain's entry in ss_heap_domains; x1 (, x2) = size
 *   out: x0 = the block, or NULL (the wrapped allocator failed, or the block
 *        could not be recorded: it is freed again and counted in
 *        ss_heap_stats[2])
 *   guarantees: a block returned to a thread inside a scope is recorded.
 *   clobbers: caller-saved registers (standard ABI).
 * Frame (both routines, so that calloc can finish in malloc's body):
 *   x29+16 x19, x20; x29+32 x21, x22.
 */
FUNC ss_heap_malloc
    LDR_GLOBAL x16, ss_heap_active
    cbnz x16, .Lmalloc_slow
    TAIL_CALL_WRAPPED DOM_MALLOC        /* fast path: nobody is inside a scope  */
.Lmalloc_slow:
    ENTER 48, x19, x20, x21, x22
    mov x21, x0                         /* x21 = domain                         */
    mov x20, x1                         /* x20 = size                           */
    CALL_WRAPPED DOM_MALLOC             /* x1 = size                            */
.Lalloc_done:                           /* x0 = block, x20 = size, x21 = domain */
    mov x19, x0                         /* x19 = block                          */
    cbz x0, .Lalloc_out
    bl ss_thread_depth                  /* x0 = depth; keeps x1-x8 (threads.S) */
    cbz x0, .Lalloc_out
    mov x0, x19
    mov x1, x20
    bl track
    cbz x0, .Lalloc_out
    /* Cannot record it: refuse the allocation rather than hand out a block
     * that would not be zeroed (the caller sees MemoryError). */
    ATOMIC_ADD ss_heap_stats, 16, #1, x9, x10, w11
    mov x1, x19
    CALL_WRAPPED DOM_FREE
    mov x19, #0
.Lalloc_out:
    mov x0, x19
    LEAVE_RETURN 48, x19, x20, x21, x22
ENDFUNC ss_heap_malloc

FUNC ss_heap_calloc
    LDR_GLOBAL x16, ss_heap_active
    cbnz x16, .Lcalloc_slow
    TAIL_CALL_WRAPPED DOM_CALLOC        /* fast path                            */
.Lcalloc_slow:
    ENTER 48, x19, x20, x21, x22        /* the same frame as ss_heap_malloc's   */
    mov x21, x0
    mul x20, x1, x2                     /* size (the allocator rejects an overflow) */
    CALL_WRAPPED DOM_CALLOC             /* x1 = n, x2 = elsize                  */
    b .Lalloc_done
ENDFUNC ss_heap_calloc

/*
 * void ss_heap_free(void *ctx, void *block)            [PyMemAllocatorEx.free]
 *   in:  x0 = ctx (this domain's entry in ss_heap_domains), x1 = block
 *   guarantees: a recorded block is zeroed over its recorded size, and its
 *   record removed, before the wrapped allocator frees it.
 *   clobbers: caller-saved registers (standard ABI).
 */
FUNC ss_heap_free
    LDR_GLOBAL x16, ss_heap_tracked
    cbz x16, .Lfree_plain
    cbnz x1, .Lfree_slow
.Lfree_plain:
    TAIL_CALL_WRAPPED DOM_FREE          /* fast path: no recorded block is alive */
.Lfree_slow:
    ENTER 32, x19, x21
    mov x21, x0                         /* x21 = domain                         */
    mov x19, x1                         /* x19 = block                          */
    mov x0, x1
    bl untrack
    cmn x0, #1
    b.eq .Lfree_wrapped                 /* not recorded                         */
    mov x1, x0
    mov x0, x19
    bl zero_block
.Lfree_wrapped:
    mov x1, x19
    mov x0, x21
    LEAVE 32, x19, x21
    TAIL_CALL_WRAPPED DOM_FREE
ENDFUNC ss_heap_free

/*
 * void *ss_heap_realloc(void *ctx, void *block, size_t size)     [.realloc]
 *   in:  x0 = ctx (this domain's entry in ss_heap_domains), x1 = block,
 *        x2 = new size
 *   out: x0 = the new block, or NULL
 *
 * A recorded block: realloc_recorded; an unrecorded one: realloc_unrecorded
 * (the result is recorded when reallocated inside a scope).
 *   clobbers: caller-saved registers (standard ABI).
 * Frame, shared with the two routines below (they work in it):
 *   x19 old block, x20 new size, x21 domain, x22 old size, x23 new block.
 */
FUNC ss_heap_realloc
    cbnz x1, .Lrealloc_block
    mov x1, x2                          /* realloc(NULL, n) is malloc(n)        */
    b ss_heap_malloc                    /* a direct branch: bti c is a no-op    */
.Lrealloc_block:
    LDR_GLOBAL x16, ss_heap_active
    LDR_GLOBAL x17, ss_heap_tracked
    orr x16, x16, x17
    cbnz x16, .Lrealloc_slow
    TAIL_CALL_WRAPPED DOM_REALLOC       /* fast path                            */
.Lrealloc_slow:
    ENTER 64, x19, x20, x21, x22, x23
    mov x21, x0                         /* x21 = domain                         */
    mov x19, x1                         /* x19 = old block                      */
    mov x20, x2                         /* x20 = new size                       */
    mov x0, x1
    bl untrack                          /* take it out while we work on it      */
    cmn x0, #1
    b.eq .Lrealloc_unrecorded
    bl realloc_recorded
    b .Lrealloc_out
.Lrealloc_unrecorded:
    bl realloc_unrecorded
.Lrealloc_out:
    LEAVE_RETURN 64, x19, x20, x21, x22, x23
ENDFUNC ss_heap_realloc

/*
 * realloc_recorded — ss_heap_realloc of a recorded block, taken out of the
 * table: allocate, record the new block, copy, zero the old one, free it.
 *                                                                [internal]
 *   in:  x0 = the old block's recorded size; ss_heap_realloc's x19 = old
 *        block, x20 = new size, x21 = domain
 *   out: x0 = the new block; or NULL, and the old block stays, recorded
 *        again and intact (the allocator failed, or the new block could not
 *        be recorded: then it is freed and counted in ss_heap_stats[2])
 *   sets x22 = old size, x23 = new block (ss_heap_realloc saved them).
 *   clobbers: caller-saved registers.
 */
LOCALFUNC realloc_recorded
    PROLOGUE 16
    mov x22, x0                         /* x22 = old size                       */
    mov x1, x20
    CALL_WRAPPED DOM_MALLOC
    cbz x0, .Lrecorded_failed
    mov x23, x0                         /* x23 = new block                      */
    mov x1, x20
    bl track
    cbnz x0, .Lrecorded_untrackable
    mov x0, x23                         /* copy min(old, new) bytes             */
    mov x1, x19
    cmp x22, x20
    csel x2, x22, x20, ls
    bl copy_block
    mov x0, x19
    mov x1, x22
    bl zero_block
    mov x1, x19
    CALL_WRAPPED DOM_FREE
    mov x0, x23
    RETURN 16
.Lrecorded_untrackable:
    ATOMIC_ADD ss_heap_stats, 16, #1, x9, x10, w11
    mov x1, x23
    CALL_WRAPPED DOM_FREE
.Lrecorded_failed:                      /* the old block stays, recorded again  */
    mov x0, x19
    mov x1, x22
    bl track
    mov x0, #0
    RETURN 16
ENDFUNC realloc_recorded

/*
 * realloc_unrecorded — ss_heap_realloc of a block that is not recorded: the
 * wrapped realloc, whose result is recorded when this thread is inside a
 * scope.  If it cannot be, the old block is gone already: the new one is
 * returned unrecorded (as on x86-64) and counted in ss_heap_stats[2].
 *                                                                [internal]
 *   in:  ss_heap_realloc's x19 = block, x20 = new size, x21 = domain
 *   out: x0 = the new block, or NULL.  sets x23 = the same.
 *   clobbers: caller-saved registers.
 */
LOCALFUNC realloc_unrecorded
    PROLOGUE 16
    mov x1, x19
    mov x2, x20
    CALL_WRAPPED DOM_REALLOC
    mov x23, x0                         /* x23 = new block                      */
    cbz x0, .Lunrecorded_out
    bl ss_thread_depth                  /* x0 = depth; keeps x1-x8 (threads.S) */
    cbz x0, .Lunrecorded_out
    mov x0, x23
    mov x1, x20
    bl track
    cbz x0, .Lunrecorded_out
    ATOMIC_ADD ss_heap_stats, 16, #1, x9, x10, w11
.Lunrecorded_out:
    mov x0, x23
    RETURN 16
ENDFUNC realloc_unrecorded

/*
 * void ss_heap_forget_all(void)                               [ctypes]
 *
 * Drops every record without touching the blocks: used when the wrapper was
 * found bypassed (tracemalloc stopped out of order), after which a recorded
 * address may already belong to an unrelated block.  Never act on stale
 * entries.
 *   clobbers: x9-x12, flags.  Leaf, uses no stack.
 */
FUNC ss_heap_forget_all
    TABLE_LOCK                          /* x9 = &heap_state                     */
    ldr x10, [x9, #H_TABLE]
    ldr x11, [x9, #H_CAP]
    add x11, x10, x11, lsl #4           /* x11 = end of the table               */
1:  cmp x10, x11
    b.hs 2f
    stp xzr, xzr, [x10], #16
    b 1b
2:  str xzr, [x9, #H_USED]
    adrp x12, ss_heap_tracked
    str xzr, [x12, #:lo12:ss_heap_tracked]
    TABLE_UNLOCK
    ret
ENDFUNC ss_heap_forget_all

GNU_PROPERTY_NOTES
