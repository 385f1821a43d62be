/*
 * heap.S — zero every PyMem/PyObject block allocated inside a scope when it
 * is freed, whenever that is.
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
 *
 * The table is open addressing over mmap'd memory (no libc), guarded by a
 * spinlock: allocator domains must be thread-safe (several interpreters
 * allocate at once since 3.12).  The lock is never held across a call into
 * the wrapped allocator.
 */
.include "common.inc"
.include "macros.inc"
.include "table.inc"                 /* TABLE_HASH, SPIN_LOCK, table.S */

.equ SYS_munmap, 11
.equ TABLE_MIN, 65536             /* entries (16 bytes each): 1 MiB                */

.include "heap.data.inc"          /* asm/shared: the data, both arches */

    .p2align 6
heap_lock:    .zero 8
/* heap_table, heap_cap, heap_used: the table's descriptor (table.inc), in this order */
heap_table:   .zero 8             /* entries: {uint64 key, uint64 size}            */
heap_cap:     .zero 8             /* entries, a power of two                       */
heap_used:    .zero 8             /* live entries + tombstones                     */

    .text

/*
 * in_scope — is the calling thread inside a scope?              [internal, leaf]
 *   out: ZF clear (jnz taken) when it is.  clobbers: rax, rcx, rdx, rsi, rdi.
 */
LOCALFUNC in_scope
    mov %fs:0, %rdi
    call slot_find
    test %rax, %rax
    jz 1f
    cmpq $0, SLOT_DEPTH(%rax)
1:  ret
ENDFUNC in_scope


/*
 * table_insert — record (rdi = block, rsi = size).  Called with the lock held.
 *   out: rax = 0, or -1 if the table could not grow (mmap failed).
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8-r11.
 */
LOCALFUNC table_insert
    mov heap_used(%rip), %rax
    inc %rax
    shl $1, %rax
    cmp heap_cap(%rip), %rax          /* keep load (tombstones too) <= 1/2         */
    jbe .Linsert_room
    push %rdi
    .cfi_def_cfa_offset 16
    push %rsi
    .cfi_def_cfa_offset 24
    call table_grow
    pop %rsi
    .cfi_def_cfa_offset 16
    pop %rdi
    .cfi_def_cfa_offset 8
    test %rax, %rax
    jnz .Linsert_out
.Linsert_room:
    mov heap_cap(%rip), %rcx
    dec %rcx                          /* rcx = mask                                */
    mov heap_table(%rip), %r8
    TABLE_HASH %rdi
.Linsert_probe:
    and %rcx, %rax
    mov %rax, %rdx
    shl $4, %rdx
    mov (%r8, %rdx), %r9
    cmp $TABLE_TOMBSTONE, %r9
    jbe .Linsert_free_entry           /* empty (0) or tombstone (1): take it       */
    inc %rax
    jmp .Linsert_probe
.Linsert_free_entry:
    test %r9, %r9
    jnz .Linsert_put
    incq heap_used(%rip)              /* a fresh slot: one more used               */
.Linsert_put:
    mov %rdi, (%r8, %rdx)
    mov %rsi, 8(%r8, %rdx)
    incq ss_heap_tracked(%rip)
    xor %eax, %eax
.Linsert_out:
    ret
ENDFUNC table_insert

/*
 * table_remove — forget block rdi.  Called with the lock held.
 *   out: rax = its size, or -1 if it is not recorded.
 *   clobbers: rax, rcx, rdx, r8, r9.
 */
LOCALFUNC table_remove
    lea heap_table(%rip), %r8
    call table_find                   /* table.S: rax = its entry, or 0            */
    test %rax, %rax
    jz .Lremove_absent
    movq $TABLE_TOMBSTONE, (%rax)
    mov 8(%rax), %rax
    decq ss_heap_tracked(%rip)
    ret
.Lremove_absent:
    mov $-1, %rax
    ret
ENDFUNC table_remove

/*
 * table_grow — rehash into a fresh mmap'd table of four times the live count
 * (at least TABLE_MIN entries), dropping tombstones: larger when the table is
 * full (table_insert), smaller when it has emptied (table_shrink).  Called
 * with the lock held.
 *   out: rax = 0, or -1 if mmap failed (the old table is kept).
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8-r11.
 */
LOCALFUNC table_grow
    mov ss_heap_tracked(%rip), %rdi
    shl $2, %rdi                      /* live * 4: load <= 1/4 after the rehash    */
    mov $TABLE_MIN, %eax
.Lgrow_double:
    cmp %rdi, %rax
    jae .Lgrow_sized
    shl $1, %rax
    jmp .Lgrow_double
.Lgrow_sized:
    mov %rax, %rdi                    /* rdi = new capacity                        */
    lea heap_table(%rip), %rsi
    mov ss_heap_tracked(%rip), %rdx
    jmp table_rebuild                 /* table.S; a failure keeps the old table    */
ENDFUNC table_grow

/*
 * track — record block rdi of rsi bytes (takes the lock).       [internal]
 *   out: rax = 0, or -1 if it could not be recorded.
 *   clobbers: caller-saved registers.
 */
LOCALFUNC track
    mov %rdi, %r8
    SPIN_LOCK heap_lock
    mov %r8, %rdi
    call table_insert
    SPIN_UNLOCK heap_lock
    ret
ENDFUNC track

/*
 * untrack — forget block rdi (takes the lock); give memory back when the
 * table has emptied (table_shrink).                             [internal]
 *   out: rax = the recorded size, or -1.  clobbers: rax, rcx, rdx, r8, r9.
 */
LOCALFUNC untrack
    mov %rdi, %r8
    SPIN_LOCK heap_lock
    mov %r8, %rdi
    call table_remove
    cmp $-1, %rax
    je .Luntrack_out
    mov heap_cap(%rip), %rcx
    cmp $TABLE_MIN, %rcx
    jbe .Luntrack_out                 /* the smallest table stays                  */
    mov ss_heap_tracked(%rip), %rdx
    shl $3, %rdx
    cmp %rcx, %rdx
    jae .Luntrack_out                 /* live * 8 >= capacity: keep it             */
    call table_shrink
.Luntrack_out:
    SPIN_UNLOCK heap_lock
    ret
ENDFUNC untrack

/*
 * table_shrink — the table holds fewer than an eighth of its capacity in live
 * records: rehash them into a table four times their count (table_grow sizes
 * it so, at least TABLE_MIN) and unmap the old one, so that a scope that
 * recorded millions of blocks does not keep their table once they are freed.
 * Called with the lock held.  If mmap fails the old table is kept (it works).
 *   preserves: rax, rsi, rdi, r10, r11 (untrack's callers' view).
 *   clobbers: rcx, rdx, r8, r9, flags.
 */
LOCALFUNC table_shrink
    push %rax
    .cfi_def_cfa_offset 16
    push %rsi
    .cfi_def_cfa_offset 24
    push %rdi
    .cfi_def_cfa_offset 32
    push %r10
    .cfi_def_cfa_offset 40
    push %r11
    .cfi_def_cfa_offset 48
    call table_grow
    pop %r11
    .cfi_def_cfa_offset 40
    pop %r10
    .cfi_def_cfa_offset 32
    pop %rdi
    .cfi_def_cfa_offset 24
    pop %rsi
    .cfi_def_cfa_offset 16
    pop %rax
    .cfi_def_cfa_offset 8
    ret
ENDFUNC table_shrink

/*
 * zero_block — rdi = block, rsi = bytes: zero it (rep stosb keeps the data
 * out of registers) and count it.  clobbers: rax, rcx, rdi.
 */
LOCALFUNC zero_block
    mov %rsi, %rcx
    xor %eax, %eax
    rep stosb
    lock incq ss_heap_stats(%rip)
    lock addq %rsi, (ss_heap_stats + 8)(%rip)
    ret
ENDFUNC zero_block

/*
 * void *ss_heap_malloc(void *ctx, size_t size)       [PyMemAllocatorEx.malloc]
 * void *ss_heap_calloc(void *ctx, size_t n, size_t elsize)        [.calloc]
 *   ctx = this domain's entry in ss_heap_domains.
 */
FUNC ss_heap_malloc
    cmpq $0, ss_heap_active(%rip)
    jne 1f
    mov DOM_MALLOC(%rdi), %rax        /* fast path: nobody is inside a scope       */
    mov DOM_CTX(%rdi), %rdi
    jmp *%rax
1:
    PUSH_RBX_R12_R13
    mov %rdi, %r13                    /* r13 = domain                              */
    mov %rsi, %r12                    /* r12 = size                                */
    mov DOM_CTX(%rdi), %rdi
    call *DOM_MALLOC(%r13)
.Lalloc_done:                         /* rax = block, r12 = size, r13 = domain     */
    mov %rax, %rbx
    test %rax, %rax
    jz 2f
    call in_scope
    jz 2f
    mov %rbx, %rdi
    mov %r12, %rsi
    call track
    test %rax, %rax
    jz 2f
    /* Cannot record it: refuse the allocation rather than hand out a block
     * that would not be zeroed (the caller sees MemoryError). */
    lock incq (ss_heap_stats + 16)(%rip)
    mov %rbx, %rsi
    mov DOM_CTX(%r13), %rdi
    call *DOM_FREE(%r13)
    xor %ebx, %ebx
2:  mov %rbx, %rax
    POP_RBX_R12_R13
    ret
ENDFUNC ss_heap_malloc

FUNC ss_heap_calloc
    cmpq $0, ss_heap_active(%rip)
    jne 1f
    mov DOM_CALLOC(%rdi), %rax
    mov DOM_CTX(%rdi), %rdi
    jmp *%rax
1:
    PUSH_RBX_R12_R13
    mov %rdi, %r13
    mov %rsi, %r12
    imul %rdx, %r12                   /* size (the allocator rejects an overflow)  */
    mov DOM_CTX(%rdi), %rdi
    call *DOM_CALLOC(%r13)
    jmp .Lalloc_done
ENDFUNC ss_heap_calloc

/*
 * void ss_heap_free(void *ctx, void *block)            [PyMemAllocatorEx.free]
 */
FUNC ss_heap_free
    cmpq $0, ss_heap_tracked(%rip)
    jne 1f
.Lfree_plain:
    mov DOM_FREE(%rdi), %rax          /* fast path: no recorded block is alive     */
    mov DOM_CTX(%rdi), %rdi
    jmp *%rax
1:  test %rsi, %rsi
    jz .Lfree_plain
    PUSH_RBX_R12_R13
    mov %rdi, %r13
    mov %rsi, %rbx
    mov %rsi, %rdi
    call untrack
    cmp $-1, %rax
    je 2f
    mov %rbx, %rdi
    mov %rax, %rsi
    call zero_block
2:  mov %rbx, %rsi
    mov DOM_CTX(%r13), %rdi
    call *DOM_FREE(%r13)
    POP_RBX_R12_R13
    ret
ENDFUNC ss_heap_free

/*
 * void *ss_heap_realloc(void *ctx, void *block, size_t size)     [.realloc]
 *
 * A recorded block: allocate, record the new one, copy, zero the old one,
 * free it; a failure leaves the old block recorded and intact.  An
 * unrecorded block reallocated inside a scope: the result is recorded.
 */
FUNC ss_heap_realloc
    test %rsi, %rsi
    jnz .Lrealloc_block
    mov %rdx, %rsi                    /* realloc(NULL, n) is malloc(n)             */
    jmp ss_heap_malloc
.Lrealloc_block:
    mov ss_heap_active(%rip), %rax
    or ss_heap_tracked(%rip), %rax
    jnz .Lrealloc_slow
    mov DOM_REALLOC(%rdi), %rax       /* fast path                                 */
    mov DOM_CTX(%rdi), %rdi
    jmp *%rax
.Lrealloc_slow:
    PUSH_RBX_R12_R15
    mov %rdi, %r13                    /* r13 = domain                              */
    mov %rsi, %rbx                    /* rbx = old block                           */
    mov %rdx, %r12                    /* r12 = new size                            */
    mov %rsi, %rdi
    call untrack                      /* take it out while we work on it           */
    cmp $-1, %rax
    je .Lrealloc_untracked
    mov %rax, %r14                    /* r14 = old size                            */
    call heap_realloc_move
    jmp .Lrealloc_out
.Lrealloc_untracked:
    call heap_realloc_plain
.Lrealloc_out:
    POP_RBX_R12_R15
    ret
ENDFUNC ss_heap_realloc

/*
 * heap_realloc_move — ss_heap_realloc of a recorded block: allocate, record
 * the new one, copy min(old, new) bytes, zero the old one, free it.
 *                                                               [internal]
 *   in:  rbx = old block (taken out of the table), r12 = new size,
 *        r13 = domain, r14 = old size
 *   out: rax = the new block; or NULL, the old block recorded again and
 *        intact (no memory, or the new block could not be recorded)
 *   clobbers: caller-saved registers, r15.  rsp 16-aligned + 8 at the call.
 */
LOCALFUNC heap_realloc_move
    sub $8, %rsp                      /* 16-byte alignment for the C calls         */
    .cfi_def_cfa_offset 16
    mov %r12, %rsi
    mov DOM_CTX(%r13), %rdi
    call *DOM_MALLOC(%r13)
    test %rax, %rax
    jz .Lmove_failed
    mov %rax, %r15                    /* r15 = new block                           */
    mov %rax, %rdi
    mov %r12, %rsi
    call track
    test %rax, %rax
    jnz .Lmove_unrecordable
    COPY_MIN %r15, %rbx, %r14, %r12   /* macros.inc: min(old, new) bytes           */
    mov %rbx, %rdi
    mov %r14, %rsi
    call zero_block
    mov %rbx, %rsi
    mov DOM_CTX(%r13), %rdi
    call *DOM_FREE(%r13)
    mov %r15, %rax
    jmp .Lmove_out
.Lmove_unrecordable:
    lock incq (ss_heap_stats + 16)(%rip)
    mov %r15, %rsi
    mov DOM_CTX(%r13), %rdi
    call *DOM_FREE(%r13)
.Lmove_failed:                        /* the old block stays, recorded again       */
    mov %rbx, %rdi
    mov %r14, %rsi
    call track
    xor %eax, %eax
.Lmove_out:
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC heap_realloc_move

/*
 * heap_realloc_plain — ss_heap_realloc of an unrecorded block: the wrapped
 * realloc; inside a scope its result is recorded (if that fails the block
 * is still returned, counted in ss_heap_stats[2]).              [internal]
 *   in:  rbx = block, r12 = new size, r13 = domain
 *   out: rax = the wrapped realloc's result.
 *   clobbers: caller-saved registers, r15.  rsp 16-aligned + 8 at the call.
 */
LOCALFUNC heap_realloc_plain
    sub $8, %rsp                      /* 16-byte alignment for the C calls         */
    .cfi_def_cfa_offset 16
    mov %rbx, %rsi
    mov %r12, %rdx
    mov DOM_CTX(%r13), %rdi
    call *DOM_REALLOC(%r13)
    mov %rax, %r15                    /* r15 = result                              */
    test %rax, %rax
    jz .Lplain_out
    call in_scope
    jz .Lplain_out
    mov %r15, %rdi
    mov %r12, %rsi
    call track
    test %rax, %rax
    jz .Lplain_out
    lock incq (ss_heap_stats + 16)(%rip)
.Lplain_out:
    mov %r15, %rax
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC heap_realloc_plain

/*
 * void ss_heap_forget_all(void)                               [ctypes]
 *
 * Drops every record without touching the blocks: used when the wrapper was
 * found bypassed (tracemalloc stopped out of order), after which a recorded
 * address may already belong to an unrelated block.  Never act on stale
 * entries.
 */
FUNC ss_heap_forget_all
    SPIN_LOCK heap_lock
    mov heap_table(%rip), %rdi
    mov heap_cap(%rip), %rcx
    shl $1, %rcx                      /* qwords                                    */
    xor %eax, %eax
    rep stosq
    movq $0, heap_used(%rip)
    movq $0, ss_heap_tracked(%rip)
    SPIN_UNLOCK heap_lock
    ret
ENDFUNC ss_heap_forget_all

GNU_PROPERTY_NOTES
