/*
 * block.S — `with secret():` blocks: a Scope object per use, its entry, its
 * exit, and the bookkeeping that pairs them.
 *
 * `secret()` returns a new Scope (a PyType_FromSpec type made by _cpython.py;
 * its fields are SCOPE_* at LAYOUT_SCOPE, and LAYOUT_F links the thread's
 * previous innermost block while it is open).  The class attributes
 * __enter__ and __exit__ are edge objects whose vectorcall enters here:
 *   - __enter__ binds like a method (METHOD_DESCRIPTOR, ss_object_get), so
 *     ss_scope_enter receives the Scope as args[0];
 *   - __exit__ binds through ss_exit_get, which makes a small exit object
 *     (layout of decorated.S: vectorcall, F = the Scope): the `with`
 *     statement looks __exit__ up before it calls __enter__, so the exit
 *     object that exists when the block opens is the `with`'s own; it is
 *     recorded (SCOPE_ARMED) and is the only thing that can close the block.
 *     Its call goes from the block's frame straight into ss_scope_exit (no
 *     C or Python frame of CPython's in between, so nothing stale is left
 *     above the erased region).
 * Each thread's slot holds its innermost open block (SLOT_BLOCK, a strong
 * reference), each open block the one it encloses (LAYOUT_F).  An exit is
 * accepted only for the thread's innermost block, opened on this thread by
 * this frame, with no scope opened inside it still open, and through the
 * `with`'s exit object; anything else raises and changes nothing.  A
 * `with`'s exit object that dies while its block is still open means the
 * interpreter never called it (an exception, e.g. KeyboardInterrupt from a
 * signal handler, between __enter__ returning and the block's protected
 * region): its dealloc closes the block, with its erasure (ss_exit_dealloc).
 */
.include "common.inc"
.include "macros.inc"

.include "block.data.inc"          /* asm/shared: the data, both arches */

    .text
/* rax = the fields (LAYOUT_SCOPE) of Scope \reg.  clobbers: flags. */
.macro SCOPE_FIELDS reg, out
    mov (ss_object_layout + LAYOUT_SCOPE)(%rip), \out
    add \reg, \out
.endm

/*
 * is_scope                                               [internal, leaf]
 *   in:  rdi = an object pointer or 0
 *   out: ZF set if it is a Scope.  clobbers: rax, flags.
 */
LOCALFUNC is_scope
    test %rdi, %rdi
    jz 1f
    mov (ss_object_layout + LAYOUT_TYPE)(%rip), %rax
    mov (%rdi, %rax), %rax
    cmp ss_block_types + TYPE_SCOPE(%rip), %rax
    ret
1:  cmp $1, %rdi                       /* 0 != 1: ZF clear                       */
    ret
ENDFUNC is_scope

/* Raise the ss_api exception \exc with the message \msg (raise_with), then
 * on to \out (with rax = 0).  clobbers: caller-saved registers. */
.macro RAISE exc, msg, out
    mov (ss_api + \exc)(%rip), %rdi
    lea \msg(%rip), %rsi
    call raise_with
    jmp \out
.endm

/*
 * raise_with                                             [internal]
 *   in:  rdi = exception type, rsi = message.  out: rax = 0 (NULL).
 *   clobbers: caller-saved registers.
 */
LOCALFUNC raise_with
    sub $8, %rsp
    .cfi_def_cfa_offset 16
    call *(ss_api + API_ERR_SET_STRING)(%rip)
    xor %eax, %eax
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC raise_with

/*
 * PyObject *ss_scope_enter(PyObject *edge, PyObject *const *args,
 *                          size_t nargsf, PyObject *kwnames)     [vectorcall]
 *
 * Scope.__enter__ (args[0] = the Scope).  Refuses, with the scope unchanged:
 * a non-Scope (TypeError); a Scope already open (RuntimeError); an enter that
 * no `with` statement makes (TypeError, API_WITH_MESSAGE): no live exit object
 * of this Scope exists, or (3.11+, called_by_with; 3.10: _scope.py) the
 * calling frame is not executing a `with` statement's call of __enter__ —
 * contextlib.ExitStack and other helpers would carry the block across
 * yield/await or threads; where the interpreter has PyFrame_GetGenerator
 * (3.11+), a block in a generator or coroutine frame (TypeError,
 * API_SUSPEND_MESSAGE).
 * Then begins a scope (scope_begin) and makes the Scope the thread's
 * innermost block, armed with that exit object.
 *   out: rax = new reference to None, or NULL with an exception set.
 *   clobbers: caller-saved registers.
 */
FUNC ss_scope_enter
    PUSH_RBX_R12_R13
    xor %r12d, %r12d
    btr $63, %rdx                      /* nargs                                  */
    test %rdx, %rdx
    jz .Lenter_check
    mov (%rsi), %r12                   /* r12 = the Scope                        */
.Lenter_check:
    mov %r12, %rdi
    call is_scope
    jne .Lenter_not_scope
    SCOPE_FIELDS %r12, %rbx            /* rbx = its fields                       */
    cmpq $0, SCOPE_STATE(%rbx)
    jne .Lenter_open
    cmpq $0, SCOPE_LOOKED(%rbx)
    je .Lenter_not_with
    call with_frame                    /* r13 = the frame; eax = why not         */
    cmp $WITH_NOT_WITH, %eax
    je .Lenter_not_with
    cmp $WITH_SUSPENDABLE, %eax
    je .Lenter_suspendable
    mov %rsp, %rdi
    call scope_begin                   /* depth + 1                              */
    test %rax, %rax
    jz .Lenter_out                     /* NULL, exception set                    */
    call block_link
    mov (ss_api + API_NONE)(%rip), %r12
    mov %r12, %rdi
    call *(ss_api + API_INCREF)(%rip)
    mov %r12, %rax
.Lenter_out:
    POP_RBX_R12_R13
    ret
    .cfi_adjust_cfa_offset 24          /* (the error paths below: pushed state)  */
.Lenter_not_scope:
    RAISE API_EXC_TYPE, msg_not_scope, .Lenter_out
.Lenter_open:
    RAISE API_EXC_RUNTIME, msg_already_open, .Lenter_out
.Lenter_not_with:
    mov (ss_api + API_EXC_TYPE)(%rip), %rdi
    mov (ss_api + API_WITH_MESSAGE)(%rip), %rsi
    jmp .Lenter_raise
.Lenter_suspendable:
    mov (ss_api + API_EXC_TYPE)(%rip), %rdi
    mov (ss_api + API_SUSPEND_MESSAGE)(%rip), %rsi
.Lenter_raise:
    call raise_with
    jmp .Lenter_out
ENDFUNC ss_scope_enter

/*
 * with_frame — ss_scope_enter's frame checks                    [internal]
 *
 * The frame that runs the `with`: the current one (3.11+), which must be
 * executing a `with` statement's call of __enter__ (called_by_with) and, where
 * PyFrame_GetGenerator exists, belong to no generator or coroutine; 3.10:
 * the caller of the Python __enter__ (which checked it for suspension
 * itself).
 *   out: eax = WITH_OK, r13 = that frame (borrowed; identity only, may be
 *        NULL on 3.10); or eax = WITH_NOT_WITH / WITH_SUSPENDABLE.
 *   clobbers: caller-saved registers, r13.  rsp 16-aligned + 8 at the call.
 */
.equ WITH_OK, 0
.equ WITH_NOT_WITH, 1
.equ WITH_SUSPENDABLE, 2
LOCALFUNC with_frame
    sub $8, %rsp                       /* 16-byte alignment for the C calls      */
    .cfi_def_cfa_offset 16
    call *(ss_api + API_EVAL_GET_FRAME)(%rip)   /* borrowed, or NULL          */
    mov %rax, %r13                     /* r13 = the frame                        */
    cmpq $0, (ss_api + API_FRAME_GET_BACK)(%rip)
    je .Lframe_current
    test %rax, %rax                    /* 3.10: its caller                       */
    jz .Lframe_ok
    mov %rax, %rdi
    call *(ss_api + API_FRAME_GET_BACK)(%rip)   /* new reference, or NULL     */
    mov %rax, %r13
    test %rax, %rax
    jz .Lframe_ok
    mov %rax, %rdi
    call *(ss_api + API_DECREF)(%rip)  /* identity only: the frame is running    */
    jmp .Lframe_ok
.Lframe_current:
    mov $WITH_NOT_WITH, %eax
    test %r13, %r13                    /* 3.11+: no Python frame is no `with`    */
    jz .Lframe_out
    mov %r13, %rdi
    call called_by_with
    test %eax, %eax
    mov $WITH_NOT_WITH, %eax
    jz .Lframe_out
    cmpq $0, (ss_api + API_FRAME_GET_GENERATOR)(%rip)
    je .Lframe_ok
    mov %r13, %rdi
    call *(ss_api + API_FRAME_GET_GENERATOR)(%rip)  /* new reference, or NULL */
    test %rax, %rax                    /* (3.14+ return None for "no generator") */
    jz .Lframe_ok
    mov %rax, %rdi
    push %rax
    .cfi_adjust_cfa_offset 8
    sub $8, %rsp
    .cfi_adjust_cfa_offset 8
    call *(ss_api + API_DECREF)(%rip)  /* only its identity is used below        */
    add $8, %rsp
    .cfi_adjust_cfa_offset -8
    pop %rax
    .cfi_adjust_cfa_offset -8
    cmp (ss_api + API_NONE)(%rip), %rax
    mov $WITH_SUSPENDABLE, %eax
    jne .Lframe_out
.Lframe_ok:
    xor %eax, %eax                     /* WITH_OK                                */
.Lframe_out:
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC with_frame

/*
 * block_link — make an entered Scope the thread's innermost block
 *                                                        [internal]
 *   in:  rax = slot (its depth already counts this scope), r12 = the Scope,
 *        rbx = its fields, r13 = the `with`'s frame (identity only)
 *   out: Scope.F = the previous innermost block (the slot's reference moves
 *        there); the slot holds a new reference to this Scope; the Scope
 *        is open, armed with its SCOPE_LOOKED exit object, and records the
 *        depth, thread and frame.
 *   clobbers: caller-saved registers.  rsp 16-aligned + 8 at the call.
 */
LOCALFUNC block_link
    mov (ss_object_layout + LAYOUT_F)(%rip), %rcx
    mov SLOT_BLOCK(%rax), %rdx
    mov %rdx, (%r12, %rcx)
    mov %r12, SLOT_BLOCK(%rax)
    mov SLOT_DEPTH(%rax), %rdx
    mov %rdx, SCOPE_DEPTH(%rbx)
    mov %fs:0, %rdx
    mov %rdx, SCOPE_THREAD(%rbx)
    mov %r13, SCOPE_FRAME(%rbx)
    mov SCOPE_LOOKED(%rbx), %rdx
    mov %rdx, SCOPE_ARMED(%rbx)        /* the `with`'s exit object               */
    movq $0, SCOPE_LOOKED(%rbx)
    movq $1, SCOPE_STATE(%rbx)
    mov %r12, %rdi
    sub $8, %rsp                       /* 16-byte alignment for the C call       */
    .cfi_def_cfa_offset 16
    call *(ss_api + API_INCREF)(%rip)  /* the slot's reference                   */
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC block_link

/*
 * called_by_with                                         [internal]
 *   in:  rdi = a Python frame (3.11+)
 *   out: eax = 1 if that frame is executing a `with` statement's call of
 *        __enter__ (its instruction at f_lasti, in its code as PyCode_GetCode
 *        returns it, has the form API_WITH_OPCODES gives), else 0 (also when
 *        the form is unknown: 0 in API_WITH_OPCODES).
 *   clobbers: caller-saved registers.  (Only identity and opcodes are read.)
 */
LOCALFUNC called_by_with
    PUSH_RBX_R12_R13
    mov %rdi, %rbx                     /* rbx = the frame                        */
    xor %r13d, %r13d                   /* r13 = the result                       */
    cmpq $0, (ss_api + API_WITH_OPCODES)(%rip)
    je .Lwith_out
    call *(ss_api + API_FRAME_GET_LASTI)(%rip)  /* bytes, or -1                */
    movslq %eax, %r12                  /* r12 = f_lasti                          */
    test %r12, %r12
    js .Lwith_out
    mov %rbx, %rdi
    call *(ss_api + API_FRAME_GET_CODE)(%rip)   /* new reference              */
    mov %rax, %rbx                     /* rbx = the code object                  */
    mov %rax, %rdi
    call *(ss_api + API_CODE_GET_CODE)(%rip)    /* new reference, or NULL     */
    push %rax                          /* the bytes; keeps rsp 16-aligned: */
    .cfi_adjust_cfa_offset 8
    sub $8, %rsp
    .cfi_adjust_cfa_offset 8
    mov %rbx, %rdi
    call *(ss_api + API_DECREF)(%rip)
    add $8, %rsp
    .cfi_adjust_cfa_offset -8
    pop %rbx                           /* rbx = co_code, or 0                    */
    .cfi_adjust_cfa_offset -8
    test %rbx, %rbx
    jz .Lwith_out
    mov (ss_api + API_WITH_OPCODES)(%rip), %rcx
    mov %rcx, %rdx
    shr $32, %rdx
    add %rbx, %rdx                     /* rdx = the code units                   */
    movzbl (%rdx, %r12), %eax
    cmp %cl, %al                       /* the opcode at f_lasti                  */
    jne 1f
    shr $8, %ecx
    test %cl, %cl
    jz 2f                              /* no instruction before it to check      */
    cmp $2, %r12
    jb 1f
    movzbl -2(%rdx, %r12), %eax
    cmp %cl, %al                       /* the opcode before it                   */
    jne 1f
    shr $8, %ecx
    movzbl -1(%rdx, %r12), %eax
    cmp %cl, %al                       /* and its oparg                          */
    jne 1f
2:  mov $1, %r13d
1:  mov %rbx, %rdi
    call *(ss_api + API_DECREF)(%rip)
.Lwith_out:
    mov %r13d, %eax
    POP_RBX_R12_R13
    ret
ENDFUNC called_by_with

/*
 * block_check                                            [internal]
 *   in:  rdi = the exit object the call came through (0: none, the edge was
 *        called unbound), rsi = the Scope (or any object, or 0)
 *   out: rax = the thread's slot if this exit may close the block, else 0
 *        with an exception set (nothing is changed).
 *   clobbers: caller-saved registers.
 */
LOCALFUNC block_check
    PUSH_RBX_R12_R13
    mov %rdi, %r12                     /* r12 = via                              */
    mov %rsi, %r13                     /* r13 = the Scope                        */
    mov %rsi, %rdi
    call is_scope
    jne .Lcheck_not_scope
    SCOPE_FIELDS %r13, %rbx
    lea msg_not_open(%rip), %rsi
    cmpq $1, SCOPE_STATE(%rbx)
    jne .Lcheck_fail
    lea msg_other_thread(%rip), %rsi
    mov %fs:0, %rdi
    cmp SCOPE_THREAD(%rbx), %rdi
    jne .Lcheck_fail
    lea msg_not_armed(%rip), %rsi
    cmp SCOPE_ARMED(%rbx), %r12
    jne .Lcheck_fail
    call innermost_slot                /* rdi = tp                               */
    lea msg_not_innermost(%rip), %rsi
    jz .Lcheck_fail
    mov %rax, %r12                     /* r12 = slot                             */
    call *(ss_api + API_EVAL_GET_FRAME)(%rip)
    lea msg_other_frame(%rip), %rsi
    cmp SCOPE_FRAME(%rbx), %rax
    jne .Lcheck_fail
    mov %r12, %rax
.Lcheck_out:
    POP_RBX_R12_R13
    ret
    .cfi_adjust_cfa_offset 24
.Lcheck_not_scope:
    RAISE API_EXC_TYPE, msg_not_scope, .Lcheck_out
.Lcheck_fail:
    mov (ss_api + API_EXC_RUNTIME)(%rip), %rdi
    call raise_with
    jmp .Lcheck_out
ENDFUNC block_check

/*
 * innermost_slot                                         [internal, leaf]
 *   in:  rdi = thread pointer (%fs:0), r13 = a Scope, rbx = its fields
 *   out: rax = that thread's slot if the Scope is its innermost block
 *        (SLOT_BLOCK) at the depth it opened at (SCOPE_DEPTH), else 0;
 *        ZF set when 0
 *   clobbers: rax, rcx, rdx, rsi, flags.  Uses no stack beyond its return
 *        address and slot_find's.
 */
LOCALFUNC innermost_slot
    call slot_find
    test %rax, %rax
    jz .Linnermost_out                 /* no slot                                */
    cmp SLOT_BLOCK(%rax), %r13
    jne .Linnermost_not
    mov SLOT_DEPTH(%rax), %rcx
    cmp SCOPE_DEPTH(%rbx), %rcx
    je .Linnermost_out
.Linnermost_not:
    xor %eax, %eax
.Linnermost_out:
    test %rax, %rax
    ret
ENDFUNC innermost_slot

/*
 * block_close                                            [internal]
 *
 * Ends the thread's innermost block: erases registers, the stack below this
 * frame and the alternate signal stack (the same order as ss_call), leaves
 * the scope (scope_end_depth), and unlinks the Scope: the slot's innermost
 * block becomes the enclosing one, the Scope is idle again (reusable), and
 * the slot's reference to it is released (the caller holds another).
 *   in:  rdi = slot, rsi = the Scope (checked: the slot's SLOT_BLOCK, at its
 *        SCOPE_DEPTH)
 *   out: rax = 0, or -errno if the stack erasure failed (the block is closed
 *        either way)
 *   clobbers: caller-saved registers; every vector register is zero.  This
 *        frame holds only the caller's registers and zeroed control words.
 */
LOCALFUNC block_close
    SCOPE_PROLOGUE
    movq $0, CTL(%rsp)                 /* our frame: no stale data kept          */
    mov %rdi, %rbx                     /* rbx = slot                             */
    mov %rsi, %r12                     /* r12 = the Scope                        */
    fnstcw CTL(%rsp)
    stmxcsr (CTL + 4)(%rsp)
    SCOPE_ERASE                        /* macros.inc: as ss_call; r13 = result   */
    SCOPE_FIELDS %r12, %rdx
    movq $0, SCOPE_STATE(%rdx)
    movq $0, SCOPE_ARMED(%rdx)
    movq $0, SCOPE_FRAME(%rdx)
    movq $0, SCOPE_THREAD(%rdx)
    mov (ss_object_layout + LAYOUT_F)(%rip), %rcx
    mov (%r12, %rcx), %rax
    movq $0, (%r12, %rcx)
    mov %rax, SLOT_BLOCK(%rbx)         /* the enclosing block (reference moved)  */
    mov %r12, %rdi
    call *(ss_api + API_DECREF)(%rip)  /* the slot's reference to this one       */
    mov %r13, %rax
    SCOPE_EPILOGUE
ENDFUNC block_close

/*
 * PyObject *ss_scope_exit(PyObject *exit, PyObject *const *args,
 *                         size_t nargsf, PyObject *kwnames)     [vectorcall]
 * PyObject *ss_scope_exit_unbound(PyObject *edge, PyObject *const *args,
 *                                 size_t nargsf, PyObject *kwnames)
 *
 * Scope.__exit__: ss_scope_exit is the vectorcall of an exit object (the
 * Scope in its LAYOUT_F; the `with` statement calls it directly from the
 * block's frame), ss_scope_exit_unbound the edge's own (the Scope in
 * args[0]: `Scope.__exit__(s, ...)`, contextlib's bound copies), which no
 * block accepts: it only reports why.  exc_type/exc/tb are ignored.
 * Closes the block (block_close) if block_check accepts.
 *   out: rax = new reference to False (never suppresses), or NULL with an
 *        exception; caller-saved GPRs but rax are zero.
 */
FUNC ss_scope_exit_unbound
    xor %eax, %eax
    btr $63, %rdx
    test %rdx, %rdx
    jz 1f
    mov (%rsi), %rax
1:  mov %rax, %rsi                     /* rsi = args[0] or 0                      */
    xor %edi, %edi                     /* through no exit object                  */
    jmp .Lexit_entry
ENDFUNC ss_scope_exit_unbound

FUNC ss_scope_exit
    mov (ss_object_layout + LAYOUT_F)(%rip), %rax
    mov (%rdi, %rax), %rsi             /* rsi = the Scope (or 0 once cleared)     */
.Lexit_entry:                          /* rdi = via, rsi = the Scope              */
    PUSH_RBX_R12_R13
    mov %rsi, %r12
    call block_check
    test %rax, %rax
    jz .Lexit_out
    mov %rax, %rdi
    mov %r12, %rsi
    call block_close
    test %rax, %rax
    jnz .Lexit_scrub_failed
    xor %edi, %edi
    call *(ss_api + API_BOOL_FROM_LONG)(%rip)
.Lexit_out:
    CLEAR_GPRS_BUT_RAX
    POP_RBX_R12_R13
    ret
    .cfi_adjust_cfa_offset 24
.Lexit_scrub_failed:
    RAISE API_EXC_RUNTIME, msg_scrub_failed, .Lexit_out
ENDFUNC ss_scope_exit

/*
 * PyObject *ss_scope_new(PyObject *self, PyObject *unused)   [METH_NOARGS]
 * What secret() returns: a new, idle Scope (PyType_GenericAlloc: zeroed, so
 * SCOPE_STATE is idle; GC-tracked), without the type call's tp_new/tp_init.
 *   out: rax = new reference, or NULL with an exception (no memory).
 */
FUNC ss_scope_new
    mov (ss_block_types + TYPE_SCOPE)(%rip), %rdi
    xor %esi, %esi
    jmp *(ss_api + API_GENERIC_ALLOC)(%rip)
ENDFUNC ss_scope_new

/*
 * PyObject *ss_exit_get(PyObject *edge, PyObject *obj, PyObject *type)
 *                                                            [tp_descr_get]
 * Scope.__exit__ looked up: through a Scope, a new exit object for it (the
 * Scope's SCOPE_LOOKED: the one a `with` will arm); through the class, the
 * edge itself; through anything else, a bound method of the edge (which
 * then refuses the call).
 *   out: rax = new reference, or NULL with an exception (no memory).
 */
FUNC ss_exit_get
    test %rsi, %rsi
    jz .Lget_self
    cmp (ss_api + API_NONE)(%rip), %rsi
    je .Lget_self
    push %rdi
    .cfi_adjust_cfa_offset 8
    mov %rsi, %rdi
    call is_scope                      /* (the push keeps rsp % 16 == 0)         */
    pop %rdi
    .cfi_adjust_cfa_offset -8
    jne .Lget_method
    PUSH_RBX_R12_R13
    mov %rsi, %r12                     /* r12 = the Scope                        */
    mov (ss_block_types + TYPE_EXIT)(%rip), %rdi
    xor %esi, %esi
    call *(ss_api + API_GENERIC_ALLOC)(%rip)    /* zeroed, GC-tracked, or NULL */
    test %rax, %rax
    jz 1f
    mov %rax, %rbx                     /* rbx = the exit object                  */
    mov (ss_object_layout + LAYOUT_VECTORCALL)(%rip), %rcx
    lea ss_scope_exit_checked(%rip), %rdx   /* decorated.S: the exit, then frames cleared */
    mov %rdx, (%rbx, %rcx)
    mov %r12, %rdi
    call *(ss_api + API_INCREF)(%rip)
    mov (ss_object_layout + LAYOUT_F)(%rip), %rcx
    mov %r12, (%rbx, %rcx)             /* it owns a reference to the Scope       */
    SCOPE_FIELDS %r12, %rcx
    mov %rbx, SCOPE_LOOKED(%rcx)
    mov %rbx, %rax
1:  POP_RBX_R12_R13
    ret
.Lget_method:
    jmp *(ss_api + API_METHOD_NEW)(%rip)        /* PyMethod_New(edge, obj)   */
.Lget_self:
    push %rdi
    .cfi_adjust_cfa_offset 8
    call *(ss_api + API_INCREF)(%rip)
    pop %rax
    .cfi_adjust_cfa_offset -8
    ret
ENDFUNC ss_exit_get

/*
 * void ss_exit_dealloc(PyObject *exit)                       [tp_dealloc]
 *
 * An exit object dies.  If it was its Scope's newest (SCOPE_LOOKED), the
 * Scope forgets it.  If it armed the Scope's block and that block is still
 * open, the `with` statement ended without calling it (an exception between
 * __enter__ and the block): if the block is this thread's innermost, it is
 * closed here, with its erasure, so that no scope stays open; otherwise it
 * is marked ARMED_ORPHAN (no exit can close it).  Then frees the object like
 * a decorated function's (ss_object_dealloc).
 */
FUNC ss_exit_dealloc
    PUSH_RBX_R12_R13
    mov %rdi, %r12                     /* r12 = the exit object                  */
    mov (ss_object_layout + LAYOUT_F)(%rip), %rax
    mov (%rdi, %rax), %r13             /* r13 = its Scope, or 0                  */
    test %r13, %r13
    jz .Ldealloc_free
    SCOPE_FIELDS %r13, %rbx
    cmp SCOPE_LOOKED(%rbx), %r12
    jne .Ldealloc_armed
    movq $0, SCOPE_LOOKED(%rbx)
.Ldealloc_armed:
    cmp SCOPE_ARMED(%rbx), %r12
    jne .Ldealloc_free
    cmpq $1, SCOPE_STATE(%rbx)
    jne .Ldealloc_free
    movq $ARMED_ORPHAN, SCOPE_ARMED(%rbx)   /* unless closed below             */
    mov %fs:0, %rdi
    cmp SCOPE_THREAD(%rbx), %rdi
    jne .Ldealloc_free
    call innermost_slot
    jz .Ldealloc_free
    mov %rax, %rdi
    mov %r13, %rsi
    call block_close                   /* heals: the block's scope ends here     */
.Ldealloc_free:
    mov %r12, %rdi
    POP_RBX_R12_R13
    jmp ss_object_dealloc
ENDFUNC ss_exit_dealloc

GNU_PROPERTY_NOTES
