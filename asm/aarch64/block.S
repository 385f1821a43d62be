/*
 * block.S — `with secret():` blocks: a Scope object per use, its entry, its
 * exit, and the bookkeeping that pairs them (the x86-64 file's counterpart,
 * same contracts; see asm/x86_64/block.S for the design).
 *
 * `secret()` returns a new Scope (SCOPE_* fields at LAYOUT_SCOPE; LAYOUT_F
 * links the thread's previous innermost block while it is open).  __enter__
 * binds like a method (ss_scope_enter gets the Scope as args[0]); __exit__
 * binds through ss_exit_get to a fresh exit object, which the `with`
 * statement looks up before calling __enter__: the block is armed with it,
 * and only it can close the block, from the block's own frame (no frame of
 * CPython's in between).  An exit is accepted only for the thread's
 * innermost block, opened on this thread by this frame, with no scope opened
 * inside it still open; anything else raises and changes nothing.  An armed
 * exit object that dies with its block still open closes the block, with
 * its erasure (ss_exit_dealloc: an exception between __enter__ and the
 * block's protected region).
 */
.include "common.inc"
.include "macros.inc"

.include "block.data.inc"          /* asm/shared: the data, both arches */

    .text
/* \out = the fields (LAYOUT_SCOPE) of Scope \reg. */
.macro SCOPE_FIELDS reg, out
    LDR_GLOBAL \out, ss_object_layout, LAYOUT_SCOPE
    add \out, \out, \reg
.endm

/* \reg = address of \sym (PC-relative). */
.macro ADR_SYM reg, sym
    adrp \reg, \sym
    add \reg, \reg, #:lo12:\sym
.endm

/* x0 = thread pointer in, the calling thread's slot out, when the Scope x20
 * (fields x21) is that thread's innermost open block, opened at its current
 * depth; otherwise to \fail (x0 = the slot or 0).  clobbers: x9-x13, flags
 * (slot_find, a leaf). */
.macro INNERMOST_SLOT fail
    bl slot_find
    cbz x0, \fail
    ldr x9, [x0, #SLOT_BLOCK]
    cmp x9, x20
    b.ne \fail
    ldr x9, [x0, #SLOT_DEPTH]
    ldr x10, [x21, #SCOPE_DEPTH]
    cmp x9, x10
    b.ne \fail
.endm

/*
 * is_scope                                               [internal, leaf]
 *   in:  x0 = an object pointer or 0
 *   out: Z set if it is a Scope.  clobbers: x9, x10, flags.
 */
LOCALFUNC is_scope
    cbz x0, .Lis_scope_null
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_TYPE
    ldr x9, [x0, x9]
    LDR_GLOBAL x10, ss_block_types, TYPE_SCOPE
    cmp x9, x10
    ret
.Lis_scope_null:
    cmp x0, #1                          /* 0 != 1: Z clear                       */
    ret
ENDFUNC is_scope

/*
 * raise_with                                             [internal]
 *   in:  x0 = exception type, x1 = message.  out: x0 = 0 (NULL).
 *   clobbers: caller-saved registers.
 */
LOCALFUNC raise_with
    PROLOGUE 16
    LDR_GLOBAL x16, ss_api, API_ERR_SET_STRING
    blr x16
    mov x0, #0
    RETURN 16
ENDFUNC raise_with

/*
 * PyObject *ss_scope_enter(PyObject *edge, PyObject *const *args,
 *                          size_t nargsf, PyObject *kwnames)     [vectorcall]
 *
 * Scope.__enter__ (args[0] = the Scope).  Refuses, with the scope unchanged:
 * a non-Scope (TypeError); a Scope already open (RuntimeError); an enter that
 * no `with` statement makes (TypeError, API_WITH_MESSAGE): no live exit object
 * of this Scope, or (3.11+, called_by_with; 3.10: _scope.py) the calling
 * frame is not executing a `with` statement's call of __enter__; where the
 * interpreter has
 * PyFrame_GetGenerator (3.11+), a block in a generator or coroutine frame
 * (TypeError, API_SUSPEND_MESSAGE).  Then begins a scope (scope_begin) and
 * makes the Scope the thread's innermost block, armed with that exit object.
 *   out: x0 = new reference to None, or NULL with an exception set.
 *   (x19 = the Scope, x20 = its fields, x21 = the frame.)
 */
FUNC ss_scope_enter
    ENTER 48, x19, x20, x21
    mov x19, #0
    and x9, x2, #0x7fffffffffffffff     /* nargs                                 */
    cbz x9, .Lenter_check
    ldr x19, [x1]                       /* x19 = the Scope                       */
.Lenter_check:
    mov x0, x19
    bl is_scope
    b.ne .Lenter_not_scope
    SCOPE_FIELDS x19, x20               /* x20 = its fields                      */
    ldr x9, [x20, #SCOPE_STATE]
    cbnz x9, .Lenter_open
    ldr x9, [x20, #SCOPE_LOOKED]
    cbz x9, .Lenter_not_with
    bl with_frame                       /* x21 = the frame                       */
    cbz x0, .Lenter_begin
    cmp x0, #1
    b.eq .Lenter_not_with
    b .Lenter_suspendable
.Lenter_begin:
    mov x0, sp
    bl scope_begin                      /* depth + 1                             */
    cbz x0, .Lenter_out                 /* NULL, exception set                   */
    /* link: Scope.F = the previous innermost block, the slot's reference moves
     * there; the slot takes a new reference to this Scope */
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_F
    ldr x10, [x0, #SLOT_BLOCK]
    str x10, [x19, x9]
    str x19, [x0, #SLOT_BLOCK]
    ldr x10, [x0, #SLOT_DEPTH]
    str x10, [x20, #SCOPE_DEPTH]
    mrs x10, tpidr_el0
    str x10, [x20, #SCOPE_THREAD]
    str x21, [x20, #SCOPE_FRAME]
    ldr x10, [x20, #SCOPE_LOOKED]
    str x10, [x20, #SCOPE_ARMED]        /* the `with`'s exit object              */
    str xzr, [x20, #SCOPE_LOOKED]
    mov x10, #1
    str x10, [x20, #SCOPE_STATE]
    mov x0, x19
    LDR_GLOBAL x16, ss_api, API_INCREF
    blr x16                             /* the slot's reference                  */
    LDR_GLOBAL x19, ss_api, API_NONE
    mov x0, x19
    LDR_GLOBAL x16, ss_api, API_INCREF
    blr x16
    mov x0, x19
.Lenter_out:
    LEAVE_RETURN 48, x19, x20, x21
.Lenter_not_scope:
    LDR_GLOBAL x0, ss_api, API_EXC_TYPE
    ADR_SYM x1, msg_not_scope
    b .Lenter_raise
.Lenter_open:
    LDR_GLOBAL x0, ss_api, API_EXC_RUNTIME
    ADR_SYM x1, msg_already_open
    b .Lenter_raise
.Lenter_not_with:
    LDR_GLOBAL x0, ss_api, API_EXC_TYPE
    LDR_GLOBAL x1, ss_api, API_WITH_MESSAGE
    b .Lenter_raise
.Lenter_suspendable:
    LDR_GLOBAL x0, ss_api, API_EXC_TYPE
    LDR_GLOBAL x1, ss_api, API_SUSPEND_MESSAGE
.Lenter_raise:
    bl raise_with
    b .Lenter_out
ENDFUNC ss_scope_enter

/*
 * with_frame                                             [internal]
 *   ss_scope_enter's: the Python frame that runs the `with` statement (3.10:
 *   the caller of the Python __enter__, which checked it for suspension
 *   itself); on 3.11+ it must be executing a `with` statement's call of
 *   __enter__ (called_by_with), and not be a generator's or coroutine's
 *   (PyFrame_GetGenerator, where the interpreter has it).
 *   out: x0 = 0: x21 = the frame (identity only; NULL on 3.10 when there is
 *        none); x0 = 1: not called by a `with` statement; x0 = 2: the frame
 *        can suspend.
 *   sets x21 (ss_scope_enter saved it).  clobbers: caller-saved registers.
 *   Frame: [x29+16] the generator, while its reference is released.
 */
LOCALFUNC with_frame
    PROLOGUE 32
    LDR_GLOBAL x16, ss_api, API_EVAL_GET_FRAME
    blr x16                             /* borrowed, or NULL                     */
    mov x21, x0                         /* x21 = the frame                       */
    LDR_GLOBAL x16, ss_api, API_FRAME_GET_BACK
    cbz x16, .Lwith_frame_current
    cbz x0, .Lwith_frame_ok
    blr x16                             /* new reference, or NULL                */
    mov x21, x0
    cbz x0, .Lwith_frame_ok
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16                             /* identity only: the frame is running   */
    b .Lwith_frame_ok
.Lwith_frame_current:
    cbz x0, .Lwith_frame_not_with       /* 3.11+: no Python frame is no `with`   */
    bl called_by_with
    cbz w0, .Lwith_frame_not_with
    LDR_GLOBAL x16, ss_api, API_FRAME_GET_GENERATOR
    cbz x16, .Lwith_frame_ok
    mov x0, x21
    blr x16                             /* new reference, or NULL                */
    cbz x0, .Lwith_frame_ok             /* (3.14+ return None for "no generator") */
    str x0, [sp, #16]
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16                             /* only its identity is used below       */
    ldr x9, [sp, #16]
    LDR_GLOBAL x10, ss_api, API_NONE
    cmp x9, x10
    b.ne .Lwith_frame_suspendable
.Lwith_frame_ok:
    mov x0, #0
    RETURN 32
.Lwith_frame_not_with:
    mov x0, #1
    RETURN 32
.Lwith_frame_suspendable:
    mov x0, #2
    RETURN 32
ENDFUNC with_frame

/*
 * called_by_with                                         [internal]
 *   in:  x0 = a Python frame (3.11+)
 *   out: w0 = 1 if that frame is executing a `with` statement's call of
 *        __enter__ (its instruction at f_lasti, in its code as PyCode_GetCode
 *        returns it, has the form API_WITH_OPCODES gives), else 0 (also when
 *        the form is unknown: 0 in API_WITH_OPCODES).
 *   clobbers: caller-saved registers.  (x19 = the frame, then the code, then
 *        co_code; x20 = f_lasti; x21 = the result.)
 */
LOCALFUNC called_by_with
    ENTER 48, x19, x20, x21
    mov x19, x0
    mov x21, #0
    LDR_GLOBAL x9, ss_api, API_WITH_OPCODES
    cbz x9, .Lwith_out
    LDR_GLOBAL x16, ss_api, API_FRAME_GET_LASTI
    blr x16                             /* bytes, or -1                          */
    sxtw x20, w0                        /* x20 = f_lasti                         */
    tbnz x20, #63, .Lwith_out
    mov x0, x19
    LDR_GLOBAL x16, ss_api, API_FRAME_GET_CODE
    blr x16                             /* new reference                         */
    mov x19, x0                         /* x19 = the code object                 */
    LDR_GLOBAL x16, ss_api, API_CODE_GET_CODE
    blr x16                             /* new reference, or NULL                */
    str x0, [sp, #40]
    mov x0, x19
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16
    ldr x19, [sp, #40]                  /* x19 = co_code, or 0                   */
    cbz x19, .Lwith_out
    LDR_GLOBAL x9, ss_api, API_WITH_OPCODES
    add x10, x19, x9, lsr #32           /* x10 = the code units                  */
    add x10, x10, x20                   /* x10 = the instruction at f_lasti      */
    ldrb w11, [x10]
    and w12, w9, #0xff
    cmp w11, w12                        /* its opcode                            */
    b.ne .Lwith_result
    ubfx w12, w9, #8, #8
    cbz w12, .Lwith_yes                 /* no instruction before it to check     */
    cmp x20, #2
    b.lo .Lwith_result
    ldrb w11, [x10, #-2]
    cmp w11, w12                        /* the opcode before it                  */
    b.ne .Lwith_result
    ldrb w11, [x10, #-1]
    ubfx w12, w9, #16, #8
    cmp w11, w12                        /* and its oparg                         */
    b.ne .Lwith_result
.Lwith_yes:
    mov x21, #1
.Lwith_result:
    mov x0, x19
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16
.Lwith_out:
    mov x0, x21
    LEAVE_RETURN 48, x19, x20, x21
ENDFUNC called_by_with

/*
 * block_check                                            [internal]
 *   in:  x0 = the exit object the call came through (0: none, the edge was
 *        called unbound), x1 = the Scope (or any object, or 0)
 *   out: x0 = the thread's slot if this exit may close the block, else 0
 *        with an exception set (nothing is changed).
 *   clobbers: caller-saved registers.
 */
LOCALFUNC block_check
    ENTER 48, x19, x20, x21, x22
    mov x19, x0                         /* x19 = via                             */
    mov x20, x1                         /* x20 = the Scope                       */
    mov x0, x1
    bl is_scope
    b.ne .Lcheck_not_scope
    SCOPE_FIELDS x20, x21               /* x21 = its fields                      */
    ADR_SYM x22, msg_not_open           /* x22 = the message if a check fails    */
    ldr x9, [x21, #SCOPE_STATE]
    cmp x9, #1
    b.ne .Lcheck_fail
    ADR_SYM x22, msg_other_thread
    mrs x0, tpidr_el0
    ldr x9, [x21, #SCOPE_THREAD]
    cmp x0, x9
    b.ne .Lcheck_fail
    ADR_SYM x22, msg_not_armed
    ldr x9, [x21, #SCOPE_ARMED]
    cmp x9, x19
    b.ne .Lcheck_fail
    ADR_SYM x22, msg_not_innermost
    INNERMOST_SLOT .Lcheck_fail         /* x0 = tp                               */
    mov x19, x0                         /* x19 = slot                            */
    LDR_GLOBAL x16, ss_api, API_EVAL_GET_FRAME
    blr x16
    ADR_SYM x22, msg_other_frame
    ldr x9, [x21, #SCOPE_FRAME]
    cmp x0, x9
    b.ne .Lcheck_fail
    mov x0, x19
.Lcheck_out:
    LEAVE_RETURN 48, x19, x20, x21, x22
.Lcheck_not_scope:
    LDR_GLOBAL x0, ss_api, API_EXC_TYPE
    ADR_SYM x1, msg_not_scope
    bl raise_with
    b .Lcheck_out
.Lcheck_fail:
    LDR_GLOBAL x0, ss_api, API_EXC_RUNTIME
    mov x1, x22
    bl raise_with
    b .Lcheck_out
ENDFUNC block_check

/*
 * block_close                                            [internal]
 *
 * Ends the thread's innermost block: erases registers, the stack below this
 * frame and the alternate signal stack (the same order as ss_call), leaves
 * the scope (scope_end_depth), and unlinks the Scope: the slot's innermost
 * block becomes the enclosing one, the Scope is idle again (reusable), and
 * the slot's reference to it is released (the caller holds another).
 *   in:  x0 = slot, x1 = the Scope (checked: the slot's SLOT_BLOCK, at its
 *        SCOPE_DEPTH)
 *   out: x0 = 0, or -errno if the stack erasure failed (the block is closed
 *        either way)
 *   clobbers: caller-saved registers; the vector registers are zero (v8-v15:
 *        their low halves are the caller's).  This frame holds only the
 *        caller's registers and the caller's FPCR.
 */
LOCALFUNC block_close
    SCOPE_PROLOGUE
    stp xzr, xzr, [sp]                  /* our frame: no stale data kept         */
    mov x19, x0                         /* x19 = slot                            */
    mov x20, x1                         /* x20 = the Scope                       */
    LDR_GLOBAL x9, ss_features
    tbz x9, #FEAT_FP_BIT, .Lclose_fpcr_saved
    mrs x9, fpcr
    str x9, [sp, #CTL]
.Lclose_fpcr_saved:
    add x0, sp, #CTL
    bl clear_registers                  /* 1. registers                          */
    mov x0, x19
    SLOT_VECTOR x19, x1, x9
    bl scrub_stack                      /* 2. the stack below this frame         */
    mov x25, x0                         /* x25 = scrub result                    */
    SLOT_VECTOR x19, x0, x9
    bl scrub_altstack                   /* 3. signal frames on the altstack      */
    mov x0, x25
    bl scope_end_depth
    SCOPE_FIELDS x20, x9
    str xzr, [x9, #SCOPE_STATE]
    str xzr, [x9, #SCOPE_ARMED]
    str xzr, [x9, #SCOPE_FRAME]
    str xzr, [x9, #SCOPE_THREAD]
    LDR_GLOBAL x10, ss_object_layout, LAYOUT_F
    ldr x11, [x20, x10]
    str xzr, [x20, x10]
    str x11, [x19, #SLOT_BLOCK]         /* the enclosing block (reference moved) */
    mov x0, x20
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16                             /* the slot's reference to this one      */
    mov x0, x25
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
 * args[0]), which no block accepts: it only reports why.  exc_type/exc/tb
 * are ignored.  Closes the block (block_close) if block_check accepts.
 *   out: x0 = new reference to False (never suppresses), or NULL with an
 *        exception; x1-x18 and NZCV are zero.
 */
FUNC ss_scope_exit_unbound
    mov x9, #0
    and x2, x2, #0x7fffffffffffffff
    cbz x2, .Lunbound_args
    ldr x9, [x1]
.Lunbound_args:
    mov x1, x9                          /* x1 = args[0] or 0                     */
    mov x0, #0                          /* through no exit object                */
    b .Lexit_entry                      /* sp unchanged: the same PAC signature  */
ENDFUNC ss_scope_exit_unbound

FUNC ss_scope_exit
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_F
    ldr x1, [x0, x9]                    /* x1 = the Scope (or 0 once cleared)    */
.Lexit_entry:                           /* x0 = via, x1 = the Scope              */
    PROLOGUE 32
    stp x19, xzr, [sp, #16]             /* (all 32 bytes written: this frame sits
                                           above the erased region, no stale slot) */
    .cfi_offset x19, -16
    mov x19, x1
    bl block_check
    cbz x0, .Lexit_out
    mov x1, x19
    bl block_close
    cbnz x0, .Lexit_scrub_failed
    mov x0, #0
    LDR_GLOBAL x16, ss_api, API_BOOL_FROM_LONG
    blr x16
.Lexit_out:
    CLEAR_GPRS_BUT_X0
    LEAVE_RETURN 32, x19
.Lexit_scrub_failed:
    LDR_GLOBAL x0, ss_api, API_EXC_RUNTIME
    ADR_SYM x1, msg_scrub_failed
    bl raise_with
    b .Lexit_out
ENDFUNC ss_scope_exit

/*
 * PyObject *ss_scope_new(PyObject *self, PyObject *unused)   [METH_NOARGS]
 * What secret() returns: a new, idle Scope (PyType_GenericAlloc: zeroed, so
 * SCOPE_STATE is idle; GC-tracked), without the type call's tp_new/tp_init.
 *   out: x0 = new reference, or NULL with an exception (no memory).
 */
FUNC ss_scope_new
    LDR_GLOBAL x0, ss_block_types, TYPE_SCOPE
    mov x1, #0
    LDR_GLOBAL x16, ss_api, API_GENERIC_ALLOC
    br x16
ENDFUNC ss_scope_new

/*
 * PyObject *ss_exit_get(PyObject *edge, PyObject *obj, PyObject *type)
 *                                                            [tp_descr_get]
 * Scope.__exit__ looked up: through a Scope, a new exit object for it (the
 * Scope's SCOPE_LOOKED: the one a `with` will arm); through the class, the
 * edge itself; through anything else, a bound method of the edge (which
 * then refuses the call).
 *   out: x0 = new reference, or NULL with an exception (no memory).
 */
FUNC ss_exit_get
    cbz x1, .Lexit_get_bind
    LDR_GLOBAL x9, ss_api, API_NONE
    cmp x1, x9
    b.eq .Lexit_get_bind
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_TYPE
    ldr x9, [x1, x9]
    LDR_GLOBAL x10, ss_block_types, TYPE_SCOPE
    cmp x9, x10
    b.eq .Lexit_get_bind
    LDR_GLOBAL x16, ss_api, API_METHOD_NEW
    br x16                              /* PyMethod_New(edge, obj)               */
.Lexit_get_bind:
    ENTER 32, x19, x20
    mov x19, x1                         /* x19 = the Scope, or NULL/None         */
    mov x20, x0                         /* x20 = the edge                        */
    cbz x1, .Lexit_get_edge
    LDR_GLOBAL x9, ss_api, API_NONE
    cmp x1, x9
    b.eq .Lexit_get_edge
    LDR_GLOBAL x0, ss_block_types, TYPE_EXIT
    mov x1, #0
    LDR_GLOBAL x16, ss_api, API_GENERIC_ALLOC
    blr x16                             /* zeroed, GC-tracked, or NULL           */
    cbz x0, .Lexit_get_out
    mov x20, x0                         /* x20 = the exit object                 */
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_VECTORCALL
    ADR_SYM x10, ss_scope_exit_checked  /* decorated.S: the exit, then frames cleared */
    str x10, [x20, x9]
    mov x0, x19
    LDR_GLOBAL x16, ss_api, API_INCREF
    blr x16
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_F
    str x19, [x20, x9]                  /* it owns a reference to the Scope      */
    SCOPE_FIELDS x19, x9
    str x20, [x9, #SCOPE_LOOKED]
    mov x0, x20
    b .Lexit_get_out
.Lexit_get_edge:
    mov x0, x20
    LDR_GLOBAL x16, ss_api, API_INCREF
    blr x16
    mov x0, x20
.Lexit_get_out:
    LEAVE_RETURN 32, x19, x20
ENDFUNC ss_exit_get

/*
 * void ss_exit_dealloc(PyObject *exit)                       [tp_dealloc]
 *
 * An exit object dies.  If it was its Scope's newest (SCOPE_LOOKED), the
 * Scope forgets it.  If it armed the Scope's block and that block is still
 * open, the `with` statement ended without calling it (an exception between
 * __enter__ and the block): if the block is this thread's innermost, it is
 * closed here, with its erasure; otherwise it is marked ARMED_ORPHAN (no exit
 * can close it).  Then frees the object like a decorated function's
 * (ss_object_dealloc).
 */
FUNC ss_exit_dealloc
    ENTER 48, x19, x20, x21
    str xzr, [sp, #40]                  /* no stale slot above block_close's erasure */
    mov x19, x0                         /* x19 = the exit object                 */
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_F
    ldr x20, [x19, x9]                  /* x20 = its Scope, or 0                 */
    cbz x20, .Ldealloc_free
    SCOPE_FIELDS x20, x21
    ldr x9, [x21, #SCOPE_LOOKED]
    cmp x9, x19
    b.ne .Ldealloc_armed
    str xzr, [x21, #SCOPE_LOOKED]
.Ldealloc_armed:
    ldr x9, [x21, #SCOPE_ARMED]
    cmp x9, x19
    b.ne .Ldealloc_free
    ldr x9, [x21, #SCOPE_STATE]
    cmp x9, #1
    b.ne .Ldealloc_free
    mov x9, #ARMED_ORPHAN
    str x9, [x21, #SCOPE_ARMED]         /* unless closed below                   */
    mrs x0, tpidr_el0
    ldr x9, [x21, #SCOPE_THREAD]
    cmp x0, x9
    b.ne .Ldealloc_free
    INNERMOST_SLOT .Ldealloc_free
    mov x1, x20
    bl block_close                      /* heals: the block's scope ends here    */
.Ldealloc_free:
    mov x0, x19
    LEAVE 48, x19, x20, x21
    b ss_object_dealloc                 /* tail call                             */
ENDFUNC ss_exit_dealloc

GNU_PROPERTY_NOTES
