/*
 * trampoline.S — the entry points CPython calls for a scope around a call
 * (ss_call, ss_do), and the scope's beginning and end that blocks share
 * (scope_begin, scope_end_depth; the blocks themselves are in block.S).
 *
 * ss_call and ss_do are the ml_meth of PyMethodDefs that _native.py places
 * in ctypes memory and turns into builtins with PyCFunction_NewEx; the block
 * edges are the vectorcall pointers of small heap-type objects.  Either way
 * a Python call enters here directly, with no ctypes foreign call.
 *
 * The order at the end of a scope is fixed: registers are cleared first
 * (clear_registers), then the stack below the trampoline is erased
 * (scrub_stack), then signal frames on the alternate signal stack
 * (scrub_altstack), so a signal arriving during the erasure can only save
 * registers that hold nothing of the function's.  The general-purpose
 * caller-saved registers x1-x18 and NZCV are cleared last, just before
 * returning; x0 carries the result.
 *
 * Frame of ss_call and ss_scope_exit (addresses grow upwards):
 *     x29+96 ...     the caller's frame (CFA)
 *     x29+16 ..+96   x19-x28, the caller's values
 *     x29+0  ..+16   x29, x30 (x30 signed with PAC)
 *     sp+CTL ..+16   the caller's FPCR, 8 bytes of padding
 *     below sp       the scope's function ran here: all of it is erased
 * (the mincore vector is the thread's own, SLOT_VECTOR: off the stack, so a
 * nesting level costs 112 bytes here)
 */
.include "common.inc"
.include "macros.inc"

.include "trampoline.data.inc"          /* asm/shared: the data, both arches */

    .text
/*
 * scope_begin                                            [internal]
 *
 * Enters a scope on the calling thread: finds (or, through the Python
 * registration callback, creates) its slot, checks that the stack pointer
 * lies in the registered stack, and increments the depth; when the depth
 * goes 0 -> 1, also the count of threads inside scopes (ss_heap_active, which
 * heap.S's allocator wrapper tests).
 *   in:  x0 = the stack pointer below which the scope will be erased
 *   out: x0 = slot, or 0 with a Python exception set
 *   clobbers: caller-saved registers (standard ABI).
 */
LOCALFUNC scope_begin
    ENTER 32, x19, x20
    mov x20, x0                         /* x20 = stack pointer to protect below */
    mrs x0, tpidr_el0
    bl slot_find
    cbz x0, .Lregister
    ldr x9, [x0, #SLOT_FLAGS]
    tbz x9, #0, .Lregister              /* SLOTF_REGISTERED                     */
.Lhave_slot:
    ldr x9, [x0, #SLOT_FLOOR]           /* floor <= sp < high                   */
    cmp x20, x9
    b.lo .Lbad_sp
    ldr x9, [x0, #SLOT_HIGH]
    cmp x20, x9
    b.hs .Lbad_sp
    ldr x9, [x0, #SLOT_DEPTH]
    add x9, x9, #1
    str x9, [x0, #SLOT_DEPTH]
    cmp x9, #1
    b.ne .Lbegin_out
    ATOMIC_ADD ss_heap_active, 0, #1, x10, x11, w12   /* first scope on this thread: heap.S */
    bl ss_freelists_enter               /* free lists (freelists.S; keeps x0-x29) */
.Lbegin_out:
    LEAVE_RETURN 32, x19, x20
.Lregister:
    /* First scope on this thread: the Python side computes the bounds and
     * calls ss_register_thread. */
    LDR_GLOBAL x0, ss_api, API_REGISTER_CB
    LDR_GLOBAL x16, ss_api, API_CALL_NOARGS
    blr x16
    cbz x0, .Lbegin_out                 /* the callback raised                  */
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16
    mrs x0, tpidr_el0
    bl slot_find
    cbz x0, .Lbegin_unregistered
    ldr x9, [x0, #SLOT_FLAGS]
    tbnz x9, #0, .Lhave_slot
.Lbegin_unregistered:
    adrp x1, msg_unregistered
    add x1, x1, #:lo12:msg_unregistered
    b .Lbegin_error
.Lbad_sp:
    adrp x1, msg_bad_sp
    add x1, x1, #:lo12:msg_bad_sp
.Lbegin_error:
    LDR_GLOBAL x0, ss_api, API_EXC_RUNTIME
    LDR_GLOBAL x16, ss_api, API_ERR_SET_STRING
    blr x16
    mov x0, #0
    b .Lbegin_out
ENDFUNC scope_begin

/*
 * scope_end_depth                                        [internal, leaf]
 *   in: x19 = slot.  Leaves the scope: decrements the depth, and the count
 *   of threads inside scopes (ss_heap_active) when this was the thread's
 *   outermost one.
 *   Preserves x0 (scrub_stack's result).  clobbers: x9-x12, flags; and
 *   x1-x18 (zeroed) on the outermost exit (ss_freelists_exit).
 */
LOCALFUNC scope_end_depth
    ldr x9, [x19, #SLOT_DEPTH]
    subs x9, x9, #1
    str x9, [x19, #SLOT_DEPTH]
    b.ne .Lend_depth_out
    ATOMIC_ADD ss_heap_active, 0, #-1, x10, x11, w12
    b ss_freelists_exit                 /* free lists: tail call (freelists.S; zeroes x1-x18) */
.Lend_depth_out:
    ret
ENDFUNC scope_end_depth

/*
 * PyObject *ss_call(PyObject *f, PyObject *const *args, size_t nargsf,
 *                   PyObject *kwnames)              [METH_FASTCALL|KEYWORDS]
 *
 * The decorator's trampoline: `self` of the builtin is the wrapped callable.
 * Calls f(*args, **kw) inside a scope and returns its result (or NULL with
 * f's exception), after erasing registers and the stack below this frame.
 *   guarantees on return: see clear_registers and scrub_stack; x1-x18 and
 *   NZCV are zero; x19-x29, sp and d8-d15 (low halves) are the caller's.
 */
FUNC ss_call
    .globl scope_call
    .hidden scope_call
scope_call:                             /* decorated.S enters here with f       */
.Lcall_body:
    SCOPE_PROLOGUE
    mov x20, x0                         /* x20 = f                              */
    mov x21, x1                         /* x21 = args                           */
    mov x22, x2                         /* x22 = nargsf                         */
    mov x23, x3                         /* x23 = kwnames                        */
    mov x0, sp
    bl scope_begin
    cbz x0, .Lcall_return               /* x0 = NULL, exception set             */
    mov x19, x0                         /* x19 = slot                           */
    LDR_GLOBAL x9, ss_features
    tbz x9, #FEAT_FP_BIT, .Lcall_fpcr_saved
    mrs x9, fpcr
    str x9, [sp, #CTL]
.Lcall_fpcr_saved:
    mov x0, x20
    mov x1, x21
    mov x2, x22
    mov x3, x23
    LDR_GLOBAL x16, ss_api, API_VECTORCALL
    blr x16                             /* f runs entirely below sp             */
    mov x24, x0                         /* x24 = result (a pointer, or NULL)    */
    add x0, sp, #CTL
    bl clear_registers                  /* 1. registers                         */
    mov x0, x19
    SLOT_VECTOR x19, x1, x9             /* the thread's mincore vector          */
    bl scrub_stack                      /* 2. the stack below this frame        */
    mov x25, x0                         /* x25 = scrub result                   */
    SLOT_VECTOR x19, x0, x9             /* the vector is free again: a stack_t  */
    bl scrub_altstack                   /* 3. signal frames on the altstack     */
    mov x0, x25
    bl scope_end_depth
    cbnz x0, .Lcall_scrub_failed
    mov x0, x24
.Lcall_return:
    CLEAR_GPRS_BUT_X0
    SCOPE_EPILOGUE
.Lcall_scrub_failed:
    /* Never claim an erasure that did not happen: drop f's result and raise. */
    cbz x24, .Lcall_raise
    mov x0, x24
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16
.Lcall_raise:
    LDR_GLOBAL x0, ss_api, API_EXC_RUNTIME
    adrp x1, msg_scrub_failed
    add x1, x1, #:lo12:msg_scrub_failed
    LDR_GLOBAL x16, ss_api, API_ERR_SET_STRING
    blr x16
    mov x0, #0
    b .Lcall_return
ENDFUNC ss_call

/*
 * PyObject *ss_do(PyObject *self, PyObject *const *args, size_t nargsf,
 *                 PyObject *kwnames)                [METH_FASTCALL|KEYWORDS]
 *
 * secretscope.do(f, *args, **kwargs): shifts f out of the arguments and runs
 * the same scope as ss_call (a direct branch past its landing pad; sp is
 * unchanged, so ss_call's paciasp signs the same return address).
 */
FUNC ss_do
    and x9, x2, #0x7fffffffffffffff     /* nargs (PY_VECTORCALL_ARGUMENTS_OFFSET off) */
    cbz x9, .Ldo_call
    ldr x0, [x1], #8                    /* f = args[0]; args + 1                */
    sub x2, x9, #1                      /* no offset flag: args[0] is not ours to borrow */
    b .Lcall_body
.Ldo_call:
    PROLOGUE 16
    LDR_GLOBAL x0, ss_api, API_EXC_TYPE
    adrp x1, msg_do_noargs
    add x1, x1, #:lo12:msg_do_noargs
    LDR_GLOBAL x16, ss_api, API_ERR_SET_STRING
    blr x16
    mov x0, #0
    RETURN 16
ENDFUNC ss_do

/*
 * PyObject *ss_vectorcall_compat(PyObject *callable, PyObject *const *args,
 *                                size_t nargsf, PyObject *kwnames)
 *
 * PyObject_Vectorcall for CPython 3.10, which exports no such function: the
 * same call through PyObject_VectorcallDict, building the keyword dict with
 * _PyStack_AsDict only when there are keywords.
 */
FUNC ss_vectorcall_compat
    cbnz x3, .Lcompat_kwnames
    LDR_GLOBAL x16, ss_api, API_VECTORCALL_DICT
    br x16                              /* kwdict = x3 = NULL                   */
.Lcompat_kwnames:
    ENTER 48, x19, x20, x21, x22
    mov x19, x0                         /* callable                             */
    mov x20, x1                         /* args                                 */
    and x21, x2, #0x7fffffffffffffff    /* nargs                                */
    add x0, x1, x21, lsl #3             /* keyword values follow the positionals */
    mov x1, x3
    LDR_GLOBAL x16, ss_api, API_STACK_AS_DICT
    blr x16
    cbz x0, .Lcompat_out
    mov x22, x0                         /* x22 = kwargs dict                    */
    mov x0, x19
    mov x1, x20
    mov x2, x21
    mov x3, x22
    LDR_GLOBAL x16, ss_api, API_VECTORCALL_DICT
    blr x16
    mov x19, x0                         /* x19 = result                         */
    mov x0, x22
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16
    mov x0, x19
.Lcompat_out:
    LEAVE_RETURN 48, x19, x20, x21, x22
ENDFUNC ss_vectorcall_compat

GNU_PROPERTY_NOTES
