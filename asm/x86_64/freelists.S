/*
 * freelists.S — keep scopes off the interpreter's data-bearing free lists.
 *
 * CPython parks some freed objects on free lists (floats, 3.14+'s ints,
 * complexes, tuples with their cached hash, range iterators, unicode and
 * 3.15's bytes writers) and hands them out again without the allocator: a
 * parked object keeps its payload, and one taken from a list inside a scope
 * was never allocated there, so heap.S does not know it.
 *
 * While any thread of the main interpreter is inside a scope, every list
 * _freelists.py located is disabled: its head is saved and set to NULL (no
 * pop finds anything: the object is allocated, so recorded by heap.S) and its
 * count is set to a value that refuses every push (the object is freed, so
 * zeroed by heap.S if a scope allocated it).  When the last such thread
 * leaves its outermost scope the saved lists are put back; they hold only
 * objects parked before the first of those scopes began.  A list found
 * refilled at that point (3.10-3.13's gc clears the float list and resets its
 * count to 0, which re-enables it) holds objects parked during the scope:
 * each is freed with the list's own free function first.
 *
 * All of it runs with the GIL of the main interpreter held (scope edges are
 * Python calls), which serializes it with every user of those lists.  The
 * routines load list heads, counts and links: pointers and counters only,
 * never an object's payload.
 *
 * Two kinds of list cannot be disabled (no count value refuses pushes):
 * 3.10's dict keys (an array; push and pop share one counter) and 3.12+'s
 * dtoa Bigints (no count at all).  At every thread's outermost exit, their
 * parked objects still marked dirty get their payload zeroed and are marked
 * clean (fl_zero_arrays, fl_zero_chains).
 *
 * Cost: nothing unless _freelists.py installed entries; then one call of
 * PyInterpreterState_Get per outermost scope edge, plus a load and two stores
 * per list at the first entry and the last exit (26 lists on 3.15).
 */
.include "common.inc"
.include "macros.inc"

/* The three tables' layouts (FL_*, FLZ_*, FLC_*: fields, record size, records)
 * are in interface.inc, from secretscope/_interface.py. */
/* Array free lists that cannot be disabled (3.10's dict keys: push and pop
 * share one counter): a parked object marked dirty has its payload zeroed at
 * every outermost exit instead. */
/* Linked free lists that cannot be disabled (dtoa's Bigints: no count, every
 * free is a push): dirty parked nodes are zeroed at every outermost exit. */

.include "freelists.data.inc"          /* asm/shared: the data, both arches */

    .text
/* Save every general-purpose register a C call may clobber (and rbx, r12,
 * r13, used here) in a frame anchored at rbp; align rsp for calls. */
.macro FL_SAVE_ALL
    PUSH_RBP_FRAME
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    push %rbx
    .cfi_offset %rbx, -96
    push %r12
    .cfi_offset %r12, -104
    push %r13
    .cfi_offset %r13, -112
    and $-16, %rsp
.endm

.macro FL_RESTORE_ALL
    lea -96(%rbp), %rsp
    pop %r13
    pop %r12
    pop %rbx
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    pop %rbp
    .cfi_def_cfa %rsp, 8
.endm

/*
 * fl_current_is_ours                                     [internal]
 *   out: ZF set when the calling thread's interpreter is ss_fl_interp.
 *   clobbers: caller-saved registers (a C call).
 */
LOCALFUNC fl_current_is_ours
    sub $8, %rsp
    .cfi_def_cfa_offset 16
    call *ss_fl_get_interp(%rip)
    cmp ss_fl_interp(%rip), %rax
    lea 8(%rsp), %rsp                  /* (lea keeps the flags of the cmp)     */
    .cfi_def_cfa_offset 8
    ret
ENDFUNC fl_current_is_ours

/*
 * fl_restore_all                                         [internal]
 *
 * Puts every saved list back.  A list that is not as it was left (head not
 * NULL, or count not the disabled value) was refilled during the scope: its
 * objects are freed with the list's free function first (heap.S zeroes those
 * the scope allocated).
 *   clobbers: rbx, r12, r13 and caller-saved registers (C calls).
 *   stack: 16-byte aligned on entry + 8 (a normal call).
 */
LOCALFUNC fl_restore_all
    PUSH_RBX_R12_R13
    lea ss_fl_entries(%rip), %rbx
    mov ss_fl_count(%rip), %r12
    test %r12, %r12
    jz .Lrestore_done
.Lrestore_entry:
    mov FL_HEAD(%rbx), %rax
    mov (%rax), %r13                   /* r13 = current head                   */
    mov FL_COUNT(%rbx), %rax
    cmpq $4, FL_WIDTH(%rbx)
    jne .Lrestore_count64
    movslq (%rax), %rax
    jmp .Lrestore_have_count
.Lrestore_count64:
    mov (%rax), %rax
.Lrestore_have_count:
    test %r13, %r13
    jnz .Lrestore_refilled
    cmp FL_DISABLED(%rbx), %rax
    je .Lrestore_put_back
.Lrestore_refilled:
    incq (ss_fl_stats + 8)(%rip)
    cmpq $0, FL_FREE(%rbx)
    je .Lrestore_put_back              /* (never installed without one)        */
.Lrestore_free_one:
    test %r13, %r13
    jz .Lrestore_put_back
    mov %r13, %rdi
    mov FL_LINK(%rbx), %rax
    mov (%r13, %rax), %r13             /* next, read before the free           */
    call *FL_FREE(%rbx)
    incq (ss_fl_stats + 16)(%rip)
    jmp .Lrestore_free_one
.Lrestore_put_back:
    mov FL_HEAD(%rbx), %rax
    mov FL_SAVED_HEAD(%rbx), %rcx
    mov %rcx, (%rax)
    movq $0, FL_SAVED_HEAD(%rbx)
    mov FL_COUNT(%rbx), %rax
    mov FL_SAVED_COUNT(%rbx), %rcx
    cmpq $4, FL_WIDTH(%rbx)
    jne .Lrestore_put64
    mov %ecx, (%rax)
    jmp .Lrestore_next
.Lrestore_put64:
    mov %rcx, (%rax)
.Lrestore_next:
    add $FL_SIZE, %rbx
    dec %r12
    jnz .Lrestore_entry
.Lrestore_done:
    POP_RBX_R12_R13
    ret
ENDFUNC fl_restore_all

/* Walk the entries of the array \table (\count of them, a quad in .data),
 * \size bytes each: r9 = the entry, r8 = entries left (fl_zero_arrays,
 * fl_zero_chains).  clobbers: r8, r9, flags. */
.macro EACH_ENTRY table, count, done
    mov \count(%rip), %r8
    test %r8, %r8
    jz \done
    lea \table(%rip), %r9
.endm
.macro NEXT_ENTRY size, again
    add $\size, %r9
    dec %r8
    jnz \again
.endm
/* A parked object r10 whose dirty word (at the offset in the field \dirty of
 * entry r9) is 0 is clean: on to \clean.  Otherwise the word is cleared.
 * clobbers: rax, flags. */
.macro TAKE_DIRTY dirty, clean
    mov \dirty(%r9), %rax
    cmpq $0, (%r10, %rax)
    je \clean
    movq $0, (%r10, %rax)
.endm
/* Zero rcx bytes of object r10 from the offset in the field \off of entry
 * r9 (rep stosb: zeros only).  clobbers: rax, rcx, rdi, flags. */
.macro ZERO_PAYLOAD off
    mov \off(%r9), %rdi
    add %r10, %rdi
    xor %eax, %eax
    rep stosb
.endm

/*
 * fl_zero_arrays                                         [internal, leaf]
 *
 * For every array list (ss_fl_zero): each parked object whose dirty word is
 * non-zero gets its payload zeroed (rep stosb: zeros only) and the word
 * cleared.  Cost: a load per parked object, plus the zeroing of those parked
 * since the last exit.
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8-r10, flags.
 */
LOCALFUNC fl_zero_arrays
    EACH_ENTRY ss_fl_zero, ss_fl_zero_count, .Lzero_done
.Lzero_list:
    mov FLZ_COUNT(%r9), %rax
    movslq (%rax), %rdx                /* rdx = parked objects                 */
    test %rdx, %rdx
    jle .Lzero_next_list
    cmp FLZ_LIMIT(%r9), %rdx
    ja .Lzero_next_list                /* not a count this list can have       */
    mov FLZ_ARRAY(%r9), %rsi
.Lzero_object:
    mov (%rsi), %r10                   /* r10 = a parked object                */
    test %r10, %r10
    jz .Lzero_next_object
    TAKE_DIRTY FLZ_DIRTY, .Lzero_next_object
    mov FLZ_ZERO_BYTES(%r9), %rcx
    ZERO_PAYLOAD FLZ_ZERO_OFF
.Lzero_next_object:
    add $8, %rsi
    dec %rdx
    jnz .Lzero_object
.Lzero_next_list:
    NEXT_ENTRY FLZ_SIZE, .Lzero_list
.Lzero_done:
    ret
ENDFUNC fl_zero_arrays

/*
 * fl_zero_chains                                         [internal, leaf]
 *
 * For every linked list of ss_fl_chains: each parked node whose dirty word is
 * non-zero gets that word and its data (4 * words bytes) zeroed (rep stosb:
 * zeros only).  At most FLC_LIMIT nodes per list.
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8-r11, flags.
 */
LOCALFUNC fl_zero_chains
    EACH_ENTRY ss_fl_chains, ss_fl_chain_count, .Lchain_done
.Lchain_list:
    mov FLC_HEADS(%r9), %rsi           /* rsi = &heads[i]                      */
    mov FLC_NHEADS(%r9), %rdx
    test %rdx, %rdx
    jz .Lchain_next_list
.Lchain_head:
    mov (%rsi), %r10                   /* r10 = a parked node                  */
    mov FLC_LIMIT(%r9), %r11           /* r11 = nodes this list may still have */
.Lchain_node:
    test %r10, %r10
    jz .Lchain_next_head
    dec %r11
    js .Lchain_next_head
    TAKE_DIRTY FLC_DIRTY, .Lchain_next_node
    mov FLC_WORDS(%r9), %rax
    movslq (%r10, %rax), %rcx
    cmp FLC_MAX_WORDS(%r9), %rcx
    ja .Lchain_next_node               /* (unsigned: a negative count too)     */
    shl $2, %rcx
    ZERO_PAYLOAD FLC_DATA
.Lchain_next_node:
    mov (%r10), %r10                   /* next                                 */
    jmp .Lchain_node
.Lchain_next_head:
    add $8, %rsi
    dec %rdx
    jnz .Lchain_head
.Lchain_next_list:
    NEXT_ENTRY FLC_SIZE, .Lchain_list
.Lchain_done:
    ret
ENDFUNC fl_zero_chains

/*
 * ss_freelists_enter                                     [internal]
 *
 * Called by the trampoline when the calling thread enters its outermost
 * scope (depth 0 -> 1), with the GIL held.  If the thread runs in the
 * interpreter whose lists are installed and no other thread of it is inside
 * a scope, saves and disables every list.
 *   preserves: every general-purpose register (flags clobbered).
 */
LOCALFUNC ss_freelists_enter
    cmpq $0, ss_fl_count(%rip)
    jne 1f
    ret
1:  FL_SAVE_ALL
    call fl_current_is_ours
    jne .Lenter_out                    /* another interpreter: its lists are not ours */
    incq ss_fl_inside(%rip)
    cmpq $1, ss_fl_inside(%rip)
    jne .Lenter_out                    /* already disabled by another thread   */
    incq ss_fl_stats(%rip)
    lea ss_fl_entries(%rip), %rbx
    mov ss_fl_count(%rip), %r12
.Lenter_entry:
    mov FL_HEAD(%rbx), %rax
    mov (%rax), %rcx
    mov %rcx, FL_SAVED_HEAD(%rbx)
    movq $0, (%rax)                    /* no pop finds anything                */
    mov FL_COUNT(%rbx), %rax
    mov FL_DISABLED(%rbx), %rdx
    cmpq $4, FL_WIDTH(%rbx)
    jne 2f
    movslq (%rax), %rcx
    mov %edx, (%rax)                   /* every push is refused                */
    jmp 3f
2:  mov (%rax), %rcx
    mov %rdx, (%rax)
3:  mov %rcx, FL_SAVED_COUNT(%rbx)
    add $FL_SIZE, %rbx
    dec %r12
    jnz .Lenter_entry
.Lenter_out:
    FL_RESTORE_ALL
    ret
ENDFUNC ss_freelists_enter

/*
 * ss_freelists_exit                                      [internal]
 *
 * Called by the trampoline when the calling thread leaves its outermost
 * scope (depth 1 -> 0), with the GIL held.  The last thread of the
 * interpreter to leave puts the saved lists back (fl_restore_all).
 * This runs after the stack was erased and before the trampoline clears the
 * caller-saved registers, which may still hold the function's values: it
 * zeroes them first, so that neither its frame nor the C functions it calls
 * can store them below the erased region.
 *   preserves: rax, rbx, rbp, r12-r15.
 *   clobbers: rcx, rdx, rsi, rdi, r8-r11 (zeroed), flags.
 */
LOCALFUNC ss_freelists_exit
    CLEAR_GPRS_BUT_RAX                 /* common.inc: rcx, rdx, rsi, rdi, r8-r11 */
    mov ss_fl_count(%rip), %rcx
    or ss_fl_zero_count(%rip), %rcx
    or ss_fl_chain_count(%rip), %rcx
    jnz .Lexit_lists
    ret
.Lexit_lists:
    xor %ecx, %ecx
    PUSH_RBP_FRAME
    push %rax
    push %rbx
    .cfi_offset %rbx, -32
    push %r12
    .cfi_offset %r12, -40
    push %r13
    .cfi_offset %r13, -48
    and $-16, %rsp
    call fl_current_is_ours
    jne .Lexit_out
    call fl_zero_arrays                /* every thread's exit: what it parked  */
    call fl_zero_chains
    cmpq $0, ss_fl_inside(%rip)
    je .Lexit_out                      /* entered before the lists were installed */
    decq ss_fl_inside(%rip)
    jnz .Lexit_out
    call fl_restore_all
.Lexit_out:
    CLEAR_GPRS_BUT_RAX                 /* what the C calls left: pointers, zeroed anyway */
    lea -32(%rbp), %rsp
    pop %r13
    pop %r12
    pop %rbx
    pop %rax
    pop %rbp
    .cfi_def_cfa %rsp, 8
    ret
ENDFUNC ss_freelists_exit

/*
 * void ss_freelists_reset(uint64_t inside)               [ctypes, GIL held]
 *
 * Sets the number of the interpreter's threads inside a scope (a fork child:
 * only the forking thread survives).  If the lists were disabled and now no
 * thread is inside, puts them back.
 */
FUNC ss_freelists_reset
    push %rbx
    .cfi_def_cfa_offset 16
    .cfi_offset %rbx, -16
    mov ss_fl_inside(%rip), %rbx
    mov %rdi, ss_fl_inside(%rip)
    test %rdi, %rdi
    jnz 1f
    test %rbx, %rbx
    jz 1f
    call fl_restore_all
1:  pop %rbx
    .cfi_def_cfa_offset 8
    ret
ENDFUNC ss_freelists_reset

/*
 * void ss_fl_free_float(PyObject *op)          [FL_FREE of 3.10-3.13's float list]
 *
 * Frees a float of a list found refilled at the last exit, value first:
 * zeroes ob_fval (offset 16 of PyFloatObject; the list links through
 * ob_type, read by fl_restore_all before this call) and tail-calls
 * ss_fl_float_free (PyObject_Free, set by _freelists.py).  heap.S zeroes a
 * float the scope allocated anyway; this covers one allocated BEFORE the
 * scope, parked inside it after a gc.collect() re-enabled the list, taken
 * again for a value of the scope and parked once more: never recorded, so
 * nothing else would zero it.  clobbers: what PyObject_Free clobbers.
 */
FUNC ss_fl_free_float
    movq $0, 16(%rdi)                  /* ob_fval: the value, never read       */
    jmp *ss_fl_float_free(%rip)
ENDFUNC ss_fl_free_float

GNU_PROPERTY_NOTES
