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

.equ DOM_CTX, 0                   /* ss_heap_domains[i]: a PyMemAllocatorEx      */
.equ DOM_MALLOC, 8
.equ DOM_CALLOC, 16
.equ DOM_REALLOC, 24
.equ DOM_FREE, 32
.equ DOM_SIZE, 40
.equ TABLE_MIN, 65536             /* entries (16 bytes each): 1 MiB                */
.equ TOMBSTONE, 1                 /* a removed entry (no block lives at address 1) */
.equ HASH_SHIFT, 20               /* index = (key * golden) >> 20, masked          */
.equ PROT_RW, 3                   /* PROT_READ | PROT_WRITE                        */
.equ MAP_PRIVATE_ANON, 0x8022     /* MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE:
                                      populated now, so recording a block never takes
                                      a page fault later (which costs every scope that
                                      allocates a full stack scan, on x86-64)         */

/* heap_state fields */
.equ H_LOCK, 0                    /* 0 free, 1 held                                */
.equ H_TABLE, 8                   /* entries: {uint64 key, uint64 size}            */
.equ H_CAP, 16                    /* entries, a power of two (0: no table yet)     */
.equ H_USED, 24                   /* live entries + tombstones                     */

    .bss
    .p2align 6
    .globl ss_heap_active
    .type ss_heap_active, %object
ss_heap_active:                   /* threads currently inside a scope              */
    .zero 8
    .size ss_heap_active, 8
    .globl ss_heap_tracked
    .type ss_heap_tracked, %object
ss_heap_tracked:                  /* recorded blocks alive                         */
    .zero 8
    .size ss_heap_tracked, 8
    .globl ss_heap_stats
    .type ss_heap_stats, %object
ss_heap_stats:                    /* [0] blocks zeroed, [1] bytes zeroed,
                                     [2] blocks that could not be recorded         */
    .zero 24
    .size ss_heap_stats, 24
    .globl ss_heap_domains
    .type ss_heap_domains, %object
ss_heap_domains:                  /* the wrapped allocators: PyMem, PyObject       */
    .zero 2 * DOM_SIZE
    .size ss_heap_domains, 2 * DOM_SIZE
    .p2align 6
    .type heap_state, %object
heap_state:                       /* H_* above; its own cache line                 */
    .zero 32
    .size heap_state, 32

    .text
/* x9 = &heap_state. */
.macro HEAP_STATE
    adrp x9, heap_state
    add x9, x9, #:lo12:heap_state
.endm

/* Take the table spinlock: test-and-test-and-set with load-/store-exclusive.
 * Acquire (LDAXR): no table access is performed before the lock is held.
 * out: x9 = &heap_state.  clobbers: x10, x11, flags. */
.macro TABLE_LOCK
    HEAP_STATE
    mov x10, #1
.Llock_try\@:
    ldaxr x11, [x9]                     /* H_LOCK (offset 0); acquire           */
    cbnz x11, .Llock_held\@
    stxr w11, x10, [x9]
    cbnz w11, .Llock_try\@              /* lost the reservation: try again      */
    b .Llock_taken\@
.Llock_held\@:
    clrex                               /* we will not store: drop the monitor  */
.Llock_wait\@:
    yield
    ldr x11, [x9]                       /* spin on plain loads until it is free */
    cbnz x11, .Llock_wait\@
    b .Llock_try\@
.Llock_taken\@:
.endm

/* Release the table spinlock (STLR: every table access happens before it).
 * clobbers: x9. */
.macro TABLE_UNLOCK
    HEAP_STATE
    stlr xzr, [x9]                      /* H_LOCK = 0                           */
.endm

/* \dst = first probe index (before masking) of block address \key:
 * Fibonacci hashing, (key * 0x9e3779b97f4a7c15) >> HASH_SHIFT. */
.macro HASH dst, key
    movz \dst, #0x7c15
    movk \dst, #0x7f4a, lsl #16
    movk \dst, #0x79b9, lsl #32
    movk \dst, #0x9e37, lsl #48
    mul \dst, \key, \dst
    lsr \dst, \dst, #HASH_SHIFT
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
1:  cmp x11, x10
    b.hs 2f
    lsl x11, x11, #1
    b 1b
2:  mov x0, #0                          /* x11 = new capacity                   */
    lsl x1, x11, #4
    mov x2, #PROT_RW
    mov x3, #MAP_PRIVATE_ANON
    mov x4, #-1
    mov x5, #0
    mov x8, #SYS_mmap
    svc #0
    cmn x0, #4095
    b.hs 9f                             /* -errno: x0 >= -4095 unsigned         */
    mov x12, x0                         /* x12 = new table (zero-filled)        */
    ldr x13, [x9, #H_TABLE]             /* x13 = old table                      */
    ldr x14, [x9, #H_CAP]               /* x14 = old capacity                   */
    sub x15, x11, #1                    /* x15 = new mask                       */
    mov x1, #0                          /* x1 = old index                       */
3:  cmp x1, x14
    b.hs 6f
    add x2, x13, x1, lsl #4
    ldp x3, x4, [x2]                    /* x3 = key, x4 = size                  */
    add x1, x1, #1
    cmp x3, #TOMBSTONE
    b.ls 3b                             /* empty (0) or tombstone (1): drop it  */
    HASH x5, x3
4:  and x5, x5, x15
    add x2, x12, x5, lsl #4
    ldr x6, [x2]
    cbz x6, 5f
    add x5, x5, #1
    b 4b
5:  stp x3, x4, [x2]
    b 3b
6:  str x12, [x9, #H_TABLE]
    str x11, [x9, #H_CAP]
    LDR_GLOBAL x10, ss_heap_tracked
    str x10, [x9, #H_USED]              /* no tombstones in the new table       */
    cbz x13, 7f
    mov x0, x13                         /* the old table held addresses and sizes */
    lsl x1, x14, #4
    mov x8, #SYS_munmap
    svc #0
7:  mov x0, #0
    ret
9:  mov x0, #-1
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
    b.ls 1f
    stp x0, x1, [sp, #16]
    bl table_grow
    mov x10, x0
    ldp x0, x1, [sp, #16]
    cbnz x10, 3f
    HEAP_STATE                          /* table_grow clobbered x9              */
1:  ldr x11, [x9, #H_CAP]
    sub x11, x11, #1                    /* x11 = mask                           */
    ldr x12, [x9, #H_TABLE]
    HASH x13, x0
2:  and x13, x13, x11
    add x14, x12, x13, lsl #4           /* x14 = &table[index]                  */
    ldr x15, [x14]
    cmp x15, #TOMBSTONE
    b.ls 4f                             /* empty (0) or tombstone (1): take it  */
    add x13, x13, #1
    b 2b
4:  cbnz x15, 5f
    ldr x15, [x9, #H_USED]              /* a fresh slot: one more used          */
    add x15, x15, #1
    str x15, [x9, #H_USED]
5:  stp x0, x1, [x14]
    adrp x15, ss_heap_tracked
    ldr x10, [x15, #:lo12:ss_heap_tracked]
    add x10, x10, #1
    str x10, [x15, #:lo12:ss_heap_tracked]
    mov x0, #0
    b 6f
3:  mov x0, #-1
6:  RETURN 32
ENDFUNC table_insert

/*
 * table_remove — forget block x0.  Called with the lock held.
 *                                                       [internal, leaf]
 *   out: x0 = its recorded size, or -1 if it is not recorded
 *   clobbers: x0, x9-x15, flags.  x1-x8 are preserved.
 */
LOCALFUNC table_remove
    HEAP_STATE
    ldr x11, [x9, #H_CAP]
    cbz x11, 3f                         /* no table yet                         */
    sub x11, x11, #1
    ldr x12, [x9, #H_TABLE]
    HASH x13, x0
1:  and x13, x13, x11
    add x14, x12, x13, lsl #4
    ldr x15, [x14]
    cmp x15, x0
    b.eq 2f
    cbz x15, 3f                         /* empty: the probe chain ends          */
    add x13, x13, #1
    b 1b
2:  mov x15, #TOMBSTONE
    str x15, [x14]
    ldr x0, [x14, #8]
    adrp x15, ss_heap_tracked
    ldr x10, [x15, #:lo12:ss_heap_tracked]
    sub x10, x10, #1
    str x10, [x15, #:lo12:ss_heap_tracked]
    ret
3:  mov x0, #-1
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
1:  tst x3, #15                         /* head: up to 16-byte alignment        */
    b.eq 2f
    cmp x3, x2
    b.hs 8f
    strb wzr, [x3], #1
    b 1b
2:  LDR_GLOBAL x4, ss_zva_size          /* x4 = DC ZVA block (>= 16), or 0      */
    cbz x4, 5f
    sub x5, x4, #1
    add x6, x3, x5
    bic x6, x6, x5                      /* x6 = first ZVA boundary >= cursor    */
    bic x7, x2, x5                      /* x7 = last ZVA boundary <= end        */
    cmp x6, x7
    b.hs 5f                             /* no whole ZVA block inside the range  */
3:  cmp x3, x6                          /* 16 at a time up to the boundary      */
    b.hs 4f
    stp xzr, xzr, [x3], #16
    b 3b
4:  dc zva, x3                          /* whole blocks                         */
    add x3, x3, x4
    cmp x3, x7
    b.lo 4b
5:  sub x5, x2, x3                      /* x5 = bytes left: 64 at a time, ...   */
    cmp x5, #64
    b.lo 6f
    stp xzr, xzr, [x3]
    stp xzr, xzr, [x3, #16]
    stp xzr, xzr, [x3, #32]
    stp xzr, xzr, [x3, #48]
    add x3, x3, #64
    b 5b
6:  cmp x5, #16                         /* ... then 16 at a time                */
    b.lo 7f
    stp xzr, xzr, [x3], #16
    sub x5, x5, #16
    b 6b
7:  cmp x3, x2                          /* tail                                 */
    b.hs 8f
    strb wzr, [x3], #1
    b 7b
8:  ATOMIC_ADD ss_heap_stats, 0, #1, x9, x10, w11
    ATOMIC_ADD ss_heap_stats, 8, x1, x9, x10, w11
    ret
ENDFUNC zero_block

/*
 * copy_block — copy x2 bytes from x1 to x0 (distinct blocks).
 *                                                       [internal, leaf]
 *   The data passes through x3-x10, which are zeroed before returning.
 *   clobbers: x0-x10, flags.  Uses no stack.
 */
LOCALFUNC copy_block
1:  cmp x2, #64
    b.lo 2f
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
    b 1b
2:  cmp x2, #16
    b.lo 3f
    ldp x3, x4, [x1], #16
    stp x3, x4, [x0], #16
    sub x2, x2, #16
    b 2b
3:  cbz x2, 4f
    ldrb w3, [x1], #1
    strb w3, [x0], #1
    sub x2, x2, #1
    b 3b
4:  mov x3, #0                          /* no block contents left in registers  */
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
    cbnz x16, 1f
    TAIL_CALL_WRAPPED DOM_MALLOC        /* fast path: nobody is inside a scope  */
1:  ENTER 48, x19, x20, x21, x22
    mov x21, x0                         /* x21 = domain                         */
    mov x20, x1                         /* x20 = size                           */
    CALL_WRAPPED DOM_MALLOC             /* x1 = size                            */
.Lalloc_done:                           /* x0 = block, x20 = size, x21 = domain */
    mov x19, x0                         /* x19 = block                          */
    cbz x0, 2f
    bl ss_thread_depth                  /* x0 = depth; keeps x1-x8 (threads.S) */
    cbz x0, 2f
    mov x0, x19
    mov x1, x20
    bl track
    cbz x0, 2f
    /* Cannot record it: refuse the allocation rather than hand out a block
     * that would not be zeroed (the caller sees MemoryError). */
    ATOMIC_ADD ss_heap_stats, 16, #1, x9, x10, w11
    mov x1, x19
    CALL_WRAPPED DOM_FREE
    mov x19, #0
2:  mov x0, x19
    LEAVE_RETURN 48, x19, x20, x21, x22
ENDFUNC ss_heap_malloc

FUNC ss_heap_calloc
    LDR_GLOBAL x16, ss_heap_active
    cbnz x16, 1f
    TAIL_CALL_WRAPPED DOM_CALLOC        /* fast path                            */
1:  ENTER 48, x19, x20, x21, x22      /* the same frame as ss_heap_malloc's   */
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
    cbnz x1, 1f
.Lfree_plain:
    TAIL_CALL_WRAPPED DOM_FREE          /* fast path: no recorded block is alive */
1:  ENTER 32, x19, x21
    mov x21, x0                         /* x21 = domain                         */
    mov x19, x1                         /* x19 = block                          */
    mov x0, x1
    bl untrack
    cmn x0, #1
    b.eq 2f                             /* not recorded                         */
    mov x1, x0
    mov x0, x19
    bl zero_block
2:  mov x1, x19
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
 * A recorded block: allocate, record the new one, copy, zero the old one,
 * free it; a failure leaves the old block recorded and intact.  An
 * unrecorded block reallocated inside a scope: the result is recorded.
 *   clobbers: caller-saved registers (standard ABI).
 */
FUNC ss_heap_realloc
    cbnz x1, 1f
    mov x1, x2                          /* realloc(NULL, n) is malloc(n)        */
    b ss_heap_malloc                    /* a direct branch: bti c is a no-op    */
1:  LDR_GLOBAL x16, ss_heap_active
    LDR_GLOBAL x17, ss_heap_tracked
    orr x16, x16, x17
    cbnz x16, 2f
    TAIL_CALL_WRAPPED DOM_REALLOC       /* fast path                            */
2:  ENTER 64, x19, x20, x21, x22, x23
    mov x21, x0                         /* x21 = domain                         */
    mov x19, x1                         /* x19 = old block                      */
    mov x20, x2                         /* x20 = new size                       */
    mov x0, x1
    bl untrack                          /* take it out while we work on it      */
    cmn x0, #1
    b.eq .Lrealloc_untracked
    mov x22, x0                         /* x22 = old size                       */
    mov x1, x20
    CALL_WRAPPED DOM_MALLOC
    cbz x0, .Lrealloc_fail
    mov x23, x0                         /* x23 = new block                      */
    mov x1, x20
    bl track
    cbnz x0, .Lrealloc_untrackable
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
    b .Lrealloc_out
.Lrealloc_untrackable:
    ATOMIC_ADD ss_heap_stats, 16, #1, x9, x10, w11
    mov x1, x23
    CALL_WRAPPED DOM_FREE
.Lrealloc_fail:                         /* the old block stays, recorded again  */
    mov x0, x19
    mov x1, x22
    bl track
    mov x0, #0
    b .Lrealloc_out
.Lrealloc_untracked:
    mov x1, x19
    mov x2, x20
    CALL_WRAPPED DOM_REALLOC
    mov x23, x0                         /* x23 = new block                      */
    cbz x0, 4f
    bl ss_thread_depth                  /* x0 = depth; keeps x1-x8 (threads.S) */
    cbz x0, 4f
    mov x0, x23
    mov x1, x20
    bl track
    cbz x0, 4f
    /* The old block is gone already: the new one is returned unrecorded
     * (as on x86-64) and counted. */
    ATOMIC_ADD ss_heap_stats, 16, #1, x9, x10, w11
4:  mov x0, x23
.Lrealloc_out:
    LEAVE_RETURN 64, x19, x20, x21, x22, x23
ENDFUNC ss_heap_realloc

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
