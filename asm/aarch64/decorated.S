/*
 * decorated.S — the object @secret returns for a function (or any callable):
 * its call enters the scope directly, and it binds as a method like a Python
 * function.
 *
 * The type is made by _cpython.py with PyType_FromSpec (flags HAVE_VECTORCALL,
 * HAVE_GC, METHOD_DESCRIPTOR); these are its slots.  An instance holds, after
 * the object header: the vectorcall pointer (ss_object_call), the wrapped
 * callable, the __dict__ and the weak-reference list; ss_object_layout gives
 * their offsets.  A call `g(...)` goes from the interpreter's call site to
 * ss_object_call and from there to the same scope as ss_call: no Python
 * wrapper frame, no argument repacking.  With METHOD_DESCRIPTOR, `obj.g(...)`
 * calls g with obj prepended (no bound method is made), like a function.
 */
.include "common.inc"
.include "macros.inc"

.include "decorated.data.inc"          /* asm/shared: the data, both arches */

    .text
/*
 * PyObject *ss_object_call(PyObject *self, PyObject *const *args,
 *                          size_t nargsf, PyObject *kwnames)    [vectorcall]
 *   out: f(*args, **kw) run inside a scope (see ss_call), or NULL with an
 *        exception; then, outside the scope, result_hooks: a generator,
 *        coroutine or async generator result is replaced by one whose every
 *        step runs in a scope, and an exception has the scope's frames
 *        cleared.  Calls into ss_call's scope with self replaced by f.
 */
FUNC ss_object_call
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_F
    ldr x0, [x0, x9]                    /* x0 = the wrapped callable            */
    cbnz x0, .Lobject_scope
    LDR_GLOBAL x0, ss_api, API_EXC_RUNTIME
    adrp x1, msg_cleared
    add x1, x1, #:lo12:msg_cleared
    LDR_GLOBAL x16, ss_api, API_ERR_SET_STRING
    br x16                              /* returns 0 = NULL: raise              */
.Lobject_scope:
    PROLOGUE 16
    bl scope_call                       /* past ss_call's landing pad           */
    bl result_hooks
    RETURN 16
ENDFUNC ss_object_call

/*
 * PyObject *ss_do_checked(PyObject *self, PyObject *const *args,
 *                         size_t nargsf, PyObject *kwnames)
 *                                                   [METH_FASTCALL|KEYWORDS]
 * secretscope.do: ss_do, then result_hooks (as for a decorated call).
 */
FUNC ss_do_checked
    PROLOGUE 16
    bl ss_do
    bl result_hooks
    RETURN 16
ENDFUNC ss_do_checked

/*
 * PyObject *ss_do_step(PyObject *self, PyObject *const *args,
 *                      size_t nargsf, PyObject *kwnames)
 *                                                   [METH_FASTCALL|KEYWORDS]
 * One step of a decorated generator or coroutine (_suspendable.py): ss_do,
 * then error_hook only.  The step's result is a value the generator yielded,
 * which is handed on as it is, whatever it is.
 */
FUNC ss_do_step
    PROLOGUE 16
    bl ss_do
    bl error_hook
    RETURN 16
ENDFUNC ss_do_step

/*
 * PyObject *ss_scope_exit_checked(PyObject *callable, PyObject *const *args,
 *                                 size_t nargsf, PyObject *kwnames)
 *                                                              [vectorcall]
 * `with secret():` exit: ss_scope_exit (the scope ends there), then, when an
 * exception leaves the block (args = exc_type, exc, tb; tb not None) and the
 * exit succeeded, HOOK_CLEAR_BLOCK(exc, tb) clears the frames the block
 * called.  The exception is being handled by the interpreter (not set), so
 * the call needs no fetch/restore.
 *   out: x0 = ss_scope_exit's result, or NULL if the hook raised (its
 *        exception is then set; the hook catches everything, so it does not).
 */
FUNC ss_scope_exit_checked
    ENTER 32, x19, x20
    mov x19, x1                         /* x19 = args (the caller's)            */
    and x20, x2, #0x7fffffffffffffff    /* x20 = nargs                          */
    bl ss_scope_exit                    /* keeps x19, x20 (callee-saved)        */
    cbz x0, .Lchecked_out
    cmp x20, #3
    b.lo .Lchecked_out
    LDR_GLOBAL x9, ss_call_hooks, HOOK_CLEAR_BLOCK
    cbz x9, .Lchecked_out
    ldr x10, [x19, #16]                 /* tb                                   */
    LDR_GLOBAL x11, ss_api, API_NONE
    cmp x10, x11
    b.eq .Lchecked_out
    mov x20, x0                         /* x20 = the exit's result              */
    mov x0, x9
    add x1, x19, #8                     /* (exc, tb)                            */
    mov x2, #2
    mov x3, xzr
    LDR_GLOBAL x16, ss_api, API_VECTORCALL
    blr x16
    cbz x0, .Lchecked_hook_raised
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16
    mov x0, x20
    b .Lchecked_out
.Lchecked_hook_raised:
    mov x0, x20                         /* the hook raised: report that         */
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16
    mov x0, xzr
.Lchecked_out:
    LEAVE_RETURN 32, x19, x20
ENDFUNC ss_scope_exit_checked

/*
 * result_hooks — a decorated call's result, after its scope.   [internal]
 *   in:  x0 = the result (new reference), or NULL with an exception set
 *   out: x0 = the result, or what HOOK_DRIVE returned for a generator,
 *        coroutine or async generator (the original's reference is
 *        released), or NULL with an exception (error_hook has run).
 *   clobbers: caller-saved registers (AAPCS64).  Runs outside the scope.
 */
LOCALFUNC result_hooks
    cbz x0, error_hook                  /* tail call                            */
    LDR_GLOBAL x9, ss_call_hooks, HOOK_DRIVE
    cbz x9, .Lresult_plain
    LDR_GLOBAL x10, ss_object_layout, LAYOUT_TYPE
    ldr x10, [x0, x10]                  /* x10 = Py_TYPE(result)                */
    LDR_GLOBAL x11, ss_call_hooks, HOOK_GEN_TYPE
    cmp x10, x11
    b.eq .Ldrive
    LDR_GLOBAL x11, ss_call_hooks, HOOK_CORO_TYPE
    cmp x10, x11
    b.eq .Ldrive
    LDR_GLOBAL x11, ss_call_hooks, HOOK_ASYNCGEN_TYPE
    cmp x10, x11
    b.eq .Ldrive
.Lresult_plain:
    ret
.Ldrive:
    PROLOGUE 32                         /* 16: args[0] = result, 24: driven     */
    str x0, [sp, #16]
    mov x0, x9                          /* drive(result)                        */
    add x1, sp, #16
    mov x2, #1
    mov x3, xzr
    LDR_GLOBAL x16, ss_api, API_VECTORCALL
    blr x16                             /* new reference, or NULL               */
    str x0, [sp, #24]
    ldr x0, [sp, #16]
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16                             /* the driver holds its own reference   */
    ldr x0, [sp, #24]
    RETURN 32
ENDFUNC result_hooks

/*
 * error_hook — an exception leaving a scope.                   [internal]
 *   in:  x0 = the scope's result; only NULL (an exception is set) is acted
 *        on: if it has a traceback, HOOK_CLEAR(value, tb) clears the locals
 *        of the scope's finished frames (the traceback keeps every entry).
 *        The exception is fetched around that call and restored unchanged
 *        (anything HOOK_CLEAR raised is discarded with it).
 *   out: x0 = the input.
 *   clobbers: caller-saved registers (AAPCS64).  Runs outside the scope.
 */
LOCALFUNC error_hook
    cbz x0, .Lerror_set
    ret
.Lerror_set:
    LDR_GLOBAL x9, ss_call_hooks, HOOK_CLEAR
    cbnz x9, .Lerror_clear
    ret
.Lerror_clear:
    PROLOGUE 64                         /* 16 type, 24 value, 32 tb, 40 args[2] */
    add x0, sp, #16
    add x1, sp, #24
    add x2, sp, #32
    LDR_GLOBAL x16, ss_call_hooks, HOOK_ERR_FETCH
    blr x16
    ldr x1, [sp, #32]
    cbz x1, .Lerror_restore             /* no traceback: nothing to clear       */
    str x1, [sp, #48]                   /* args = (value or None, tb)           */
    ldr x0, [sp, #24]
    cbnz x0, .Lerror_args
    LDR_GLOBAL x0, ss_api, API_NONE
.Lerror_args:
    str x0, [sp, #40]
    LDR_GLOBAL x0, ss_call_hooks, HOOK_CLEAR
    add x1, sp, #40
    mov x2, #2
    mov x3, xzr
    LDR_GLOBAL x16, ss_api, API_VECTORCALL
    blr x16
    cbz x0, .Lerror_restore             /* it raised: Restore replaces that     */
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16
.Lerror_restore:
    ldr x0, [sp, #16]
    ldr x1, [sp, #24]
    ldr x2, [sp, #32]
    LDR_GLOBAL x16, ss_call_hooks, HOOK_ERR_RESTORE
    blr x16                             /* steals the three references          */
    mov x0, xzr
    RETURN 64
ENDFUNC error_hook

/*
 * PyObject *ss_object_get(PyObject *self, PyObject *obj, PyObject *type)
 *                                                            [tp_descr_get]
 * Binding, as for a Python function: through an instance, a bound method;
 * through the class (obj NULL or None), the object itself.
 */
FUNC ss_object_get
    cbz x1, .Lobject_get_self
    LDR_GLOBAL x9, ss_api, API_NONE
    cmp x1, x9
    b.eq .Lobject_get_self
    LDR_GLOBAL x16, ss_api, API_METHOD_NEW
    br x16                              /* PyMethod_New(self, obj)              */
.Lobject_get_self:
    PROLOGUE 32
    str x0, [sp, #16]
    LDR_GLOBAL x16, ss_api, API_INCREF
    blr x16
    ldr x0, [sp, #16]
    RETURN 32
ENDFUNC ss_object_get

/*
 * int ss_object_traverse(PyObject *self, visitproc visit, void *arg)
 *                                                            [tp_traverse]
 * Visits the wrapped callable, the __dict__ and (a heap type's instance
 * owns a reference to it) the type.  out: w0 = the first nonzero visit
 * result, or 0.
 */
FUNC ss_object_traverse
    ENTER 48, x19, x20, x21
    mov x19, x0                         /* x19 = self                           */
    mov x20, x1                         /* x20 = visit                          */
    mov x21, x2                         /* x21 = arg                            */
    .irp field, LAYOUT_F, LAYOUT_DICT, LAYOUT_TYPE
    LDR_GLOBAL x9, ss_object_layout, \field
    ldr x0, [x19, x9]
    cbz x0, 1f
    mov x1, x21
    blr x20
    cbnz w0, 2f
1:
    .endr
    mov w0, #0
2:  LEAVE_RETURN 48, x19, x20, x21
ENDFUNC ss_object_traverse

/*
 * int ss_object_clear(PyObject *self)                        [tp_clear]
 * Drops the wrapped callable and the __dict__ (each field is NULL before its
 * reference is released).  out: w0 = 0.
 */
FUNC ss_object_clear
    ENTER 32, x19
    mov x19, x0
    .irp field, LAYOUT_F, LAYOUT_DICT
    LDR_GLOBAL x9, ss_object_layout, \field
    ldr x0, [x19, x9]
    str xzr, [x19, x9]
    cbz x0, 1f
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16
1:
    .endr
    mov w0, #0
    LEAVE_RETURN 32, x19
ENDFUNC ss_object_clear

/*
 * void ss_object_dealloc(PyObject *self)                     [tp_dealloc]
 * Untracks the object, clears weak references to it and its fields, frees
 * it (PyObject_GC_Del) and releases the reference it held to its type.
 */
FUNC ss_object_dealloc
    ENTER 32, x19, x20
    mov x19, x0                         /* x19 = self                           */
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_TYPE
    ldr x20, [x19, x9]                  /* x20 = its type                       */
    LDR_GLOBAL x16, ss_api, API_GC_UNTRACK
    blr x16
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_WEAKLIST
    ldr x9, [x19, x9]
    cbz x9, .Lobject_dealloc_clear
    mov x0, x19
    LDR_GLOBAL x16, ss_api, API_CLEAR_WEAKREFS
    blr x16
.Lobject_dealloc_clear:
    mov x0, x19
    bl ss_object_clear
    mov x0, x19
    LDR_GLOBAL x16, ss_api, API_GC_DEL
    blr x16
    mov x0, x20
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16
    LEAVE_RETURN 32, x19, x20
ENDFUNC ss_object_dealloc

GNU_PROPERTY_NOTES
