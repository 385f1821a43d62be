/*
 * native.S — zero every block native code obtains from the C allocator
 * (malloc and its family) while the calling thread is inside a scope, when
 * it is freed, whenever that is.
 *
 * secretscope/_native_heap.py rewrites the allocator entries of every loaded
 * object's GOT (JUMP_SLOT and GLOB_DAT relocations of malloc, calloc,
 * realloc, reallocarray, posix_memalign, aligned_alloc, memalign, valloc,
 * pvalloc and free) to point at the wrappers below.  What a slot pointed to
 * before (or, for a lazy slot not yet bound, what the loader would bind it to)
 * is the "next" function: the wrappers chain to it, so whatever was there
 * (libc, a preloaded jemalloc/tcmalloc, memray, a sanitizer) keeps working.
 *
 * Slots of different objects may be bound to different allocators.  Each
 * distinct set of next functions is a "family" (a row of ss_native_next);
 * there are FAMILIES copies of every wrapper, copy f chaining to row f.  A
 * wrapper's slow path receives its row in r11 and uses only that row's
 * functions, so a block is never handed to another family than the one the
 * calling object was bound to.
 *
 * Blocks allocated while the calling thread is inside a scope are recorded in
 * a side table of this file (pointer -> size; separate from heap.S's, so a
 * pymalloc block that is also a malloc block — pymalloc hands large requests
 * to malloc — is recorded once in each and removed from each by its own
 * free).  free() of a recorded block zeroes min(recorded size,
 * malloc_usable_size) bytes, then frees it: the clamp keeps a stale record
 * (a block freed inside libc, out of our sight, its address reused) from ever
 * zeroing past the current block.  realloc() of a recorded block, or of any
 * block inside a scope, never lets the allocator move it: allocate, record,
 * copy, zero the old block, free it (copying and zeroing all of the old
 * block's usable size, whatever its record says).
 *
 * Cost outside scopes: malloc-like wrappers test ss_heap_active (heap.S:
 * threads inside a scope, anywhere), free tests ss_native_tracked, realloc
 * both; when zero they tail-call the next function: one load and a branch.
 *
 * The table is open addressing over mmap'd memory (no libc), guarded by a
 * spinlock never held across a call out.  It grows at load 3/4 and shrinks
 * (munmap) when the live count falls below 1/8, so its memory goes back when
 * recorded blocks are freed.  fork: ss_native_atfork_prepare (registered
 * with pthread_atfork / __register_atfork) takes the lock and names the
 * forking thread its owner, so allocations of that thread during fork still
 * pass, and the child never inherits a lock held mid-update by a thread that
 * no longer exists.
 */
.include "common.inc"
.include "macros.inc"
.include "table.inc"                 /* TABLE_HASH, SPIN_LOCK, table.S */

/* ==== native heap (issue 12): constants ================================== */
.equ ROW, KINDS * 8                /* K_*, KINDS, FAMILIES, NAPI_*: interface.inc */
.equ NTABLE_MIN, 4096             /* entries (16 bytes each): 64 KiB              */
/* ========================================================================== */

.include "native.data.inc"          /* asm/shared: the exported data, both arches */
    .p2align 6
native_lock:       .zero 8
native_fork_owner: .zero 8        /* thread pointer of the forking thread, or 0   */
/* ntab, ncap, nused: the table's descriptor (table.inc), in this order */
ntab:              .zero 8        /* entries: {uint64 key, uint64 size}           */
ncap:              .zero 8        /* entries, a power of two (0: no table yet)    */
nused:             .zero 8        /* live entries + tombstones                    */

    .text
/* The table lock, not taken by the thread that holds it across fork (then
 * it is not in the middle of an update): table.inc.  clobbers: rax, flags. */
.macro NLOCK
    SPIN_LOCK native_lock, native_fork_owner
.endm
.macro NUNLOCK
    SPIN_UNLOCK native_lock, native_fork_owner
.endm

/*
 * ncap_for — rdi = live entries: the capacity that holds them at load <= 1/2
 * (a power of two, at least NTABLE_MIN).  out: rax.  clobbers: rax, rdi.
 */
LOCALFUNC ncap_for
    shl $1, %rdi
    mov $NTABLE_MIN, %eax
1:  cmp %rdi, %rax
    jae 2f
    shl $1, %rax
    jmp 1b
2:  ret
ENDFUNC ncap_for

/*
 * ntable_resize — rehash every live entry into a fresh mmap'd table of rdi
 * entries (a power of two >= the live count * 2), drop tombstones, munmap
 * the old table (table.S).  Lock held.
 *   out: rax = 0, or -1 if mmap failed (the old table is kept).
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8-r11.
 */
LOCALFUNC ntable_resize
    lea ntab(%rip), %rsi
    mov ss_native_tracked(%rip), %rdx
    call table_rebuild
    test %rax, %rax
    jnz .Lresize_out                  /* the old table is kept                     */
    mov ncap(%rip), %rcx
    mov %rcx, (ss_native_stats + 24)(%rip)
.Lresize_out:
    ret
ENDFUNC ntable_resize

/*
 * ntable_insert — record (rdi = block, rsi = size); a key already present
 * (a stale record: its block was freed out of our sight and the address
 * reused) gets the new size, never a second entry.  Lock held.
 *   out: rax = 0, or -1 if the table could not grow.
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8-r11.
 */
LOCALFUNC ntable_insert
    mov nused(%rip), %rax
    inc %rax
    shl $2, %rax                      /* (used + 1) * 4                            */
    mov ncap(%rip), %rcx
    lea (%rcx, %rcx, 2), %rcx         /* capacity * 3                              */
    cmp %rcx, %rax
    jbe .Lnins_room                   /* keeps load (tombstones too) <= 3/4        */
    push %rdi
    .cfi_def_cfa_offset 16
    push %rsi
    .cfi_def_cfa_offset 24
    mov ss_native_tracked(%rip), %rdi
    inc %rdi
    call ncap_for
    mov %rax, %rdi
    call ntable_resize
    pop %rsi
    .cfi_def_cfa_offset 16
    pop %rdi
    .cfi_def_cfa_offset 8
    test %rax, %rax
    jnz .Lnins_out
.Lnins_room:
    mov ncap(%rip), %rcx
    dec %rcx                          /* rcx = mask                                */
    mov ntab(%rip), %r8
    xor %r10d, %r10d                  /* r10 = first tombstone seen, or 0          */
    TABLE_HASH %rdi
.Lnins_probe:
    TABLE_PROBE_ENTRY                 /* rdx = entry, r9 = its key                 */
    cmp %rdi, %r9
    je .Lins_update                   /* already recorded                          */
    test %r9, %r9
    jz .Lnins_absent                  /* empty: the chain ends, the key is absent  */
    cmp $TABLE_TOMBSTONE, %r9
    jne .Lnins_next
    test %r10, %r10
    jnz .Lnins_next
    mov %rdx, %r10
.Lnins_next:
    inc %rax
    jmp .Lnins_probe
.Lnins_absent:
    test %r10, %r10
    jnz .Lnins_put
    mov %rdx, %r10                    /* no tombstone on the way: the empty entry  */
    incq nused(%rip)
.Lnins_put:
    mov %rdi, (%r10)
    mov %rsi, 8(%r10)
    incq ss_native_tracked(%rip)
    xor %eax, %eax
    ret
.Lins_update:
    mov %rsi, 8(%rdx)
    xor %eax, %eax
.Lnins_out:
    ret
ENDFUNC ntable_insert

/*
 * ntable_lookup — find block rdi.  Lock held.
 *   out: rax = its entry, or 0 if it is not recorded.
 *   clobbers: rax, rcx, rdx, r8, r9.
 */
LOCALFUNC ntable_lookup
    lea ntab(%rip), %r8
    jmp table_find                    /* table.S                                   */
ENDFUNC ntable_lookup

/*
 * nuntrack — forget block rdi (takes the lock); shrinks the table when the
 * live count fell below 1/8 of it.
 *   out: rax = the recorded size, or -1.  clobbers: caller-saved registers.
 */
LOCALFUNC nuntrack
    push %rbx
    .cfi_def_cfa_offset 16
    .cfi_offset %rbx, -16
    mov %rdi, %r11
    NLOCK
    mov %r11, %rdi
    call ntable_lookup
    test %rax, %rax
    jz 2f
    movq $TABLE_TOMBSTONE, (%rax)
    mov 8(%rax), %rbx                 /* rbx = size                                */
    decq ss_native_tracked(%rip)
    mov ncap(%rip), %rax
    cmp $NTABLE_MIN, %rax
    jbe 1f
    mov ss_native_tracked(%rip), %rdi
    shl $3, %rdi
    cmp %rax, %rdi
    jae 1f                            /* live * 8 >= capacity: keep it             */
    mov ss_native_tracked(%rip), %rdi
    call ncap_for
    mov %rax, %rdi
    call ntable_resize                /* a failure keeps the larger table          */
1:  NUNLOCK
    mov %rbx, %rax
    pop %rbx
    .cfi_def_cfa_offset 8
    ret
2:  NUNLOCK
    mov $-1, %rax
    pop %rbx
    .cfi_def_cfa_offset 8
    ret
ENDFUNC nuntrack

/*
 * ntrack — record block rdi of rsi bytes (takes the lock).
 *   out: rax = 0, or -1 if it could not be recorded.
 *   clobbers: caller-saved registers.
 */
LOCALFUNC ntrack
    mov %rdi, %r11
    NLOCK
    mov %r11, %rdi
    call ntable_insert
    mov %rax, %r11
    NUNLOCK
    mov %r11, %rax
    ret
ENDFUNC ntrack

/*
 * nrecorded — the recorded size of block rdi, or -1 (takes the lock).
 *   clobbers: rax, rcx, rdx, r8, r9, r11.
 */
LOCALFUNC nrecorded
    mov %rdi, %r11
    NLOCK
    mov %r11, %rdi
    call ntable_lookup
    test %rax, %rax
    jz 1f
    mov 8(%rax), %r11
    jmp 2f
1:  mov $-1, %r11
2:  NUNLOCK
    mov %r11, %rax
    ret
ENDFUNC nrecorded

/*
 * nclamp — rdi = block, rsi = bytes: min(rsi, malloc_usable_size(rdi)).
 *   out: rax.  clobbers: caller-saved registers.  rsp must be 16-aligned + 8
 *   at the call (as for any C call).
 */
LOCALFUNC nclamp
    push %rsi
    .cfi_def_cfa_offset 16
    call *(ss_native_api + NAPI_USABLE)(%rip)
    pop %rsi
    .cfi_def_cfa_offset 8
    cmp %rsi, %rax
    jbe 1f
    mov %rsi, %rax
1:  ret
ENDFUNC nclamp

/*
 * nzero — rdi = block, rsi = bytes: zero them (rep stosb keeps the data out
 * of registers) and count them.  clobbers: rax, rcx, rdi.
 */
LOCALFUNC nzero
    mov %rsi, %rcx
    xor %eax, %eax
    rep stosb
    lock incq ss_native_stats(%rip)
    lock addq %rsi, (ss_native_stats + 8)(%rip)
    ret
ENDFUNC nzero

/*
 * nrecord — a block the family's allocator just returned: record it if the
 * calling thread is inside a scope; one that cannot be recorded is freed
 * again (counted: ss_native_stats[2]) rather than handed out unrecorded.
 *   in:  rbx = the block (not NULL), r12 = its size, r13 = the family's row
 *   out: rax = 0: the block may be returned; rax = 1: it was freed, the
 *        caller fails the allocation (ENOMEM)
 *   clobbers: caller-saved registers.  rsp 16-aligned + 8 at the call.
 */
LOCALFUNC nrecord
    sub $8, %rsp                      /* 16-byte alignment for the C calls         */
    .cfi_def_cfa_offset 16
    call in_scope                     /* heap.S                                    */
    jz .Lnrecord_keep
    mov %rbx, %rdi
    mov %r12, %rsi
    call ntrack
    test %rax, %rax
    jz .Lnrecord_keep
    lock incq (ss_native_stats + 16)(%rip)
    mov %rbx, %rdi
    call *(K_FREE * 8)(%r13)
    mov $1, %eax
    jmp .Lnrecord_out
.Lnrecord_keep:
    xor %eax, %eax
.Lnrecord_out:
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC nrecord

/* errno = ENOMEM through __errno_location.  clobbers: caller-saved. */
LOCALFUNC nset_enomem
    sub $8, %rsp
    .cfi_def_cfa_offset 16
    call *(ss_native_api + NAPI_ERRNO)(%rip)
    movl $ENOMEM, (%rax)
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC nset_enomem

/*
 * The slow paths.  Reached by a jump from a family's wrapper (the stack as at
 * the wrapper's entry, the C arguments untouched) with r11 = the family's row.
 *
 * native_malloc_slow (rdi = size) and the others that return a block: call
 * the next function, then, if the thread is inside a scope, record the block;
 * a block that cannot be recorded is freed again and NULL returned with
 * errno = ENOMEM (as heap.S refuses such a PyMem block).
 */
LOCALFUNC native_malloc_slow
    PUSH_RBX_R12_R13
    mov %r11, %r13                    /* r13 = row                                 */
    mov %rdi, %r12                    /* r12 = size to record                      */
    call *(K_MALLOC * 8)(%r13)
.Lnative_record:                      /* rax = block, r12 = size, r13 = row        */
    mov %rax, %rbx
    test %rax, %rax
    jz .Lnmalloc_out
    call nrecord
    test %rax, %rax
    jz .Lnmalloc_out                  /* kept                                      */
    call nset_enomem                  /* refused: freed again                      */
    xor %ebx, %ebx
.Lnmalloc_out:
    mov %rbx, %rax
    POP_RBX_R12_R13
    ret
ENDFUNC native_malloc_slow

/* calloc(n = rdi, size = rsi) */
LOCALFUNC native_calloc_slow
    PUSH_RBX_R12_R13
    mov %r11, %r13
    mov %rdi, %r12
    imul %rsi, %r12                   /* an overflow makes calloc fail: no record  */
    call *(K_CALLOC * 8)(%r13)
    jmp .Lnative_record
ENDFUNC native_calloc_slow

/* aligned_alloc / memalign (alignment = rdi, size = rsi) */
LOCALFUNC native_aligned_alloc_slow
    PUSH_RBX_R12_R13
    mov %r11, %r13
    mov %rsi, %r12
    call *(K_ALIGNED_ALLOC * 8)(%r13)
    jmp .Lnative_record
ENDFUNC native_aligned_alloc_slow
LOCALFUNC native_memalign_slow
    PUSH_RBX_R12_R13
    mov %r11, %r13
    mov %rsi, %r12
    call *(K_MEMALIGN * 8)(%r13)
    jmp .Lnative_record
ENDFUNC native_memalign_slow

/* valloc(size = rdi); pvalloc(size = rdi) records the size rounded to pages */
LOCALFUNC native_valloc_slow
    PUSH_RBX_R12_R13
    mov %r11, %r13
    mov %rdi, %r12
    call *(K_VALLOC * 8)(%r13)
    jmp .Lnative_record
ENDFUNC native_valloc_slow
LOCALFUNC native_pvalloc_slow
    PUSH_RBX_R12_R13
    mov %r11, %r13
    mov (ss_native_api + NAPI_PAGE)(%rip), %rax
    dec %rax
    lea (%rdi, %rax), %r12
    not %rax
    and %rax, %r12                    /* r12 = size rounded up to a page           */
    call *(K_PVALLOC * 8)(%r13)
    jmp .Lnative_record
ENDFUNC native_pvalloc_slow

/* int posix_memalign(void **memptr = rdi, size_t alignment = rsi, size_t size = rdx) */
LOCALFUNC native_posix_memalign_slow
    PUSH_RBX_R12_R15
    mov %r11, %r13
    mov %rdi, %r14                    /* r14 = memptr                              */
    mov %rdx, %r12
    call *(K_POSIX_MEMALIGN * 8)(%r13)
    mov %eax, %r15d                   /* r15 = the result                          */
    test %eax, %eax
    jnz .Lnmemalign_out
    mov (%r14), %rbx
    call nrecord
    test %rax, %rax
    jz .Lnmemalign_out                /* kept                                      */
    movq $0, (%r14)                   /* refused: freed again                      */
    mov $ENOMEM, %r15d
.Lnmemalign_out:
    mov %r15d, %eax
    POP_RBX_R12_R15
    ret
ENDFUNC native_posix_memalign_slow

/* free(block = rdi): a recorded block is zeroed first */
LOCALFUNC native_free_slow
    test %rdi, %rdi
    jz .Lnfree_next
    PUSH_RBX_R12_R13
    mov %r11, %r13
    mov %rdi, %rbx
    call nuntrack
    cmp $-1, %rax
    je .Lnfree_forgotten
    mov %rbx, %rdi
    mov %rax, %rsi
    call nclamp
    mov %rbx, %rdi
    mov %rax, %rsi
    call nzero
.Lnfree_forgotten:
    mov %r13, %r11
    mov %rbx, %rdi
    POP_RBX_R12_R13
.Lnfree_next:
    jmp *(K_FREE * 8)(%r11)          /* tail call: the block is the allocator's   */
ENDFUNC native_free_slow

/*
 * realloc(block = rdi, size = rsi).  A recorded block, or any block while the
 * thread is inside a scope: allocate with the family's malloc, record, copy
 * min(old, new) bytes, zero the old block, free it; a failure leaves the old
 * block as it was (still recorded if it was).  size 0: the old block is
 * zeroed, then handed to the next realloc (which frees it, or shrinks it).
 * Otherwise (not recorded, outside scopes): the next realloc.
 */
LOCALFUNC native_realloc_slow
    test %rdi, %rdi
    jnz .Lrealloc_block
    mov %rsi, %rdi                    /* realloc(NULL, n) is malloc(n)             */
    jmp native_malloc_slow
.Lrealloc_block:
    PUSH_RBX_R12_R15
    mov %r11, %r13                    /* r13 = row                                 */
    mov %rdi, %rbx                    /* rbx = old block                           */
    mov %rsi, %r12                    /* r12 = new size                            */
    call nrecorded
    cmp $-1, %rax
    jne .Lrealloc_ours                /* recorded                                  */
    call in_scope
    jz .Lrealloc_plain                /* not ours, not in a scope                  */
.Lrealloc_ours:
    mov %rbx, %rdi                    /* r14 = bytes the old block may hold: all   */
    call *(ss_native_api + NAPI_USABLE)(%rip) /* of it.  Not the recorded size: a
                                         stale record (the block freed out of sight,
                                         the address reused by a larger block) would
                                         copy too little                          */
    mov %rax, %r14
    test %r12, %r12
    jz .Lrealloc_zero_size
    call nrealloc_move
    jmp .Lrealloc_out
.Lrealloc_zero_size:
    call nrealloc_to_zero
    jmp .Lrealloc_out
.Lrealloc_plain:
    mov %r13, %r11
    mov %rbx, %rdi
    mov %r12, %rsi
    .cfi_remember_state
    POP_RBX_R12_R15
    jmp *(K_REALLOC * 8)(%r11)
    .cfi_restore_state
.Lrealloc_out:
    POP_RBX_R12_R15
    ret
ENDFUNC native_realloc_slow

/*
 * nrealloc_move — native_realloc_slow's move: allocate with the family's
 * malloc, record, copy min(old, new) bytes, erase the old block (nerase),
 * free it.                                                      [internal]
 *   in:  rbx = old block, r12 = new size (> 0), r13 = row, r14 = the old
 *        block's usable size
 *   out: rax = the new block; or NULL (errno set: by malloc, or ENOMEM when
 *        the new block cannot be recorded) and the old block as it was
 *   clobbers: caller-saved registers, r15.  rsp 16-aligned + 8 at the call.
 */
LOCALFUNC nrealloc_move
    sub $8, %rsp                      /* 16-byte alignment for the C calls         */
    .cfi_def_cfa_offset 16
    mov %r12, %rdi
    call *(K_MALLOC * 8)(%r13)
    test %rax, %rax
    jz .Lmove_out                     /* errno set by malloc; old block untouched  */
    mov %rax, %r15                    /* r15 = new block                           */
    mov %rax, %rdi
    mov %r12, %rsi
    call ntrack
    test %rax, %rax
    jnz .Lmove_unrecordable
    COPY_MIN %r15, %rbx, %r14, %r12   /* macros.inc: min(old, new) bytes           */
    call nerase
    call *(K_FREE * 8)(%r13)          /* rdi = old block (nerase)                  */
    mov %r15, %rax
    jmp .Lmove_out
.Lmove_unrecordable:
    lock incq (ss_native_stats + 16)(%rip)
    mov %r15, %rdi
    call *(K_FREE * 8)(%r13)
    call nset_enomem
    xor %eax, %eax
.Lmove_out:
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC nrealloc_move

/*
 * nrealloc_to_zero — realloc(block, 0): erase the old block (nerase), then
 * hand it to the next realloc (which frees it, or shrinks it); a minimal
 * block it returns inside a scope gets a 0-byte record (only its slack to
 * zero).                                                        [internal]
 *   in:  rbx = old block, r13 = row, r14 = its usable size
 *   out: rax = the next realloc's result.
 *   clobbers: caller-saved registers, rbx.  rsp 16-aligned + 8 at the call.
 */
LOCALFUNC nrealloc_to_zero
    sub $8, %rsp                      /* 16-byte alignment for the C calls         */
    .cfi_def_cfa_offset 16
    call nerase
    xor %esi, %esi                    /* rdi = old block (nerase)                  */
    call *(K_REALLOC * 8)(%r13)
    mov %rax, %rbx                    /* NULL (freed), or a minimal block          */
    test %rax, %rax
    jz .Lto_zero_out
    call in_scope
    jz .Lto_zero_out
    mov %rbx, %rdi
    xor %esi, %esi
    call ntrack                       /* a 0-byte record: only its slack to zero   */
.Lto_zero_out:
    mov %rbx, %rax
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC nrealloc_to_zero

/*
 * nerase — forget the old block of a realloc (nuntrack) and zero all its
 * usable bytes (nzero).                                         [internal]
 *   in:  rbx = the block, r14 = its usable size
 *   out: rdi = the block (for the call that follows).
 *   clobbers: caller-saved registers.  rsp 16-aligned + 8 at the call.
 */
LOCALFUNC nerase
    sub $8, %rsp                      /* 16-byte alignment for the calls           */
    .cfi_def_cfa_offset 16
    mov %rbx, %rdi
    call nuntrack
    mov %rbx, %rdi
    mov %r14, %rsi
    call nzero
    mov %rbx, %rdi
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC nerase

/* reallocarray(block = rdi, n = rsi, size = rdx): realloc(block, n * size),
 * or NULL with errno = ENOMEM when the product overflows. */
LOCALFUNC native_reallocarray_slow
    mov %rdx, %rax
    mul %rsi                          /* rdx:rax = n * size                        */
    jo 1f
    mov %rax, %rsi
    jmp native_realloc_slow
1:  sub $8, %rsp
    .cfi_def_cfa_offset 16
    call nset_enomem
    add $8, %rsp
    .cfi_def_cfa_offset 8
    xor %eax, %eax
    ret
ENDFUNC native_reallocarray_slow

/*
 * The wrappers: FAMILIES copies of each, ss_native_<kind>_<family>, the
 * addresses _native_heap.py writes into GOT slots.  Same contract as the C
 * function they stand for.  Fast path: one load, a branch, a tail call.
 */
/* A wrapper's two paths, after the test that chose (ZF set: nothing to do):
 * the fast one tail-calls the family's next function, the slow one jumps to
 * \slow with the family's row in r11. */
.macro WRAPPER_PATHS fam, kind, slow
    jnz 1f
    jmp *(ss_native_next + \fam * ROW + \kind * 8)(%rip)
1:  lea (ss_native_next + \fam * ROW)(%rip), %r11
    jmp \slow
.endm
.macro ALLOC_WRAPPER name, kind, fam
FUNC ss_native_\name\()_\fam
    cmpq $0, ss_heap_active(%rip)      /* a thread inside a scope?              */
    WRAPPER_PATHS \fam, \kind, native_\name\()_slow
ENDFUNC ss_native_\name\()_\fam
.endm
.macro FREE_WRAPPER fam
FUNC ss_native_free_\fam
    cmpq $0, ss_native_tracked(%rip)   /* a recorded block alive?               */
    WRAPPER_PATHS \fam, K_FREE, native_free_slow
ENDFUNC ss_native_free_\fam
.endm
.macro REALLOC_WRAPPER name, kind, fam
FUNC ss_native_\name\()_\fam
    mov ss_heap_active(%rip), %rax
    or ss_native_tracked(%rip), %rax   /* either                                */
    WRAPPER_PATHS \fam, \kind, native_\name\()_slow
ENDFUNC ss_native_\name\()_\fam
.endm

.irp fam, 0, 1, 2, 3
    NATIVE_WRAPPERS \fam              /* interface.inc: one wrapper per K_* column */
.endr

/*
 * void ss_native_atfork_prepare(void)                 [pthread_atfork handler]
 * Takes the table lock (waiting for an update in progress on another thread)
 * and names the calling thread its owner for the duration of fork.
 * void ss_native_atfork_release(void)        [parent and child handler]
 * Gives it up.  clobbers: rax, flags.
 */
FUNC ss_native_atfork_prepare
    SPIN_LOCK native_lock, native_fork_owner, .Latfork_held
    mov %fs:0, %rax
    mov %rax, native_fork_owner(%rip)
.Latfork_held:                        /* registered twice (a second interpreter): held */
    ret
ENDFUNC ss_native_atfork_prepare

FUNC ss_native_atfork_release
    movq $0, native_fork_owner(%rip)
    movq $0, native_lock(%rip)
    ret
ENDFUNC ss_native_atfork_release

/*
 * int ss_native_collect(struct dl_phdr_info *info, size_t size, uint64_t *out)
 *                                             [dl_iterate_phdr callback]
 * Copies what the Python side needs of each loaded object, so that no Python
 * code runs while the loader's lock is held (a Python callback could give up
 * the GIL there to a thread that waits for that lock inside dlopen).
 * out[0] = capacity (entries), out[1] = objects seen, out[2] = dlpi_adds,
 * out[3] = dlpi_subs, then entries of COLLECT_ENTRY bytes:
 *   {addr, phdr, phnum, name bytes (NUL-terminated, cut at COLLECT_NAME - 1)}.
 * Capacity 0: only the counters (a cheap "did the link map change?").
 *   out: eax = 0 (continue), or 1 (stop: capacity 0).
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8, r9.
 */
FUNC ss_native_collect
    cmp $48, %rsi                     /* dlpi_adds/subs present (size >= 48)       */
    jb 1f
    mov 32(%rdi), %rax
    mov %rax, 16(%rdx)
    mov 40(%rdi), %rax
    mov %rax, 24(%rdx)
1:  mov 8(%rdx), %rcx                 /* rcx = index                               */
    incq 8(%rdx)
    cmpq $0, (%rdx)
    je .Lcollect_stop
    cmp (%rdx), %rcx
    jae .Lcollect_more                /* full: counted, not copied                 */
    imul $COLLECT_ENTRY, %rcx
    lea 32(%rdx, %rcx), %r8           /* r8 = entry                                */
    mov (%rdi), %rax
    mov %rax, (%r8)                   /* dlpi_addr                                 */
    mov 16(%rdi), %rax
    mov %rax, 8(%r8)                  /* dlpi_phdr                                 */
    movzwl 24(%rdi), %eax
    mov %rax, 16(%r8)                 /* dlpi_phnum                                */
    mov 8(%rdi), %rsi                 /* dlpi_name (may be NULL)                   */
    lea 24(%r8), %r9
    xor %ecx, %ecx
    test %rsi, %rsi
    jz 3f
2:  cmp $(COLLECT_NAME - 1), %ecx
    jae 3f
    movzbl (%rsi, %rcx), %eax
    test %al, %al
    jz 3f
    mov %al, (%r9, %rcx)
    inc %ecx
    jmp 2b
3:  movb $0, (%r9, %rcx)
.Lcollect_more:
    xor %eax, %eax
    ret
.Lcollect_stop:
    mov $1, %eax
    ret
ENDFUNC ss_native_collect

/*
 * uint64_t ss_native_recorded(void *block)                      [ctypes, tests]
 * The size recorded for block, or (uint64_t)-1.
 */
FUNC ss_native_recorded
    sub $8, %rsp
    .cfi_def_cfa_offset 16
    call nrecorded
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC ss_native_recorded

GNU_PROPERTY_NOTES
