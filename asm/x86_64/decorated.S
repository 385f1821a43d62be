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
    mov (ss_object_layout + LAYOUT_F)(%rip), %rax
    mov (%rdi, %rax), %rdi             /* rdi = the wrapped callable            */
    test %rdi, %rdi
    jz 1f
    sub $8, %rsp                       /* 16-byte alignment for the call        */
    .cfi_def_cfa_offset 16
    call scope_call                    /* past ss_call's landing pad            */
    mov %rax, %rdi
    call result_hooks
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
1:  mov (ss_api + API_EXC_RUNTIME)(%rip), %rdi
    lea msg_cleared(%rip), %rsi
    jmp *(ss_api + API_ERR_SET_STRING)(%rip)   /* returns 0 = NULL: raise    */
ENDFUNC ss_object_call

/*
 * PyObject *ss_do_checked(PyObject *self, PyObject *const *args,
 *                         size_t nargsf, PyObject *kwnames)
 *                                                   [METH_FASTCALL|KEYWORDS]
 * secretscope.do: ss_do, then result_hooks (as for a decorated call).
 */
FUNC ss_do_checked
    sub $8, %rsp
    .cfi_def_cfa_offset 16
    call ss_do
    mov %rax, %rdi
    call result_hooks
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
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
    sub $8, %rsp
    .cfi_def_cfa_offset 16
    call ss_do
    mov %rax, %rdi
    call error_hook
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
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
 *   out: rax = ss_scope_exit's result, or NULL if the hook raised (its
 *        exception is then set; the hook catches everything, so it does not).
 */
FUNC ss_scope_exit_checked
    PUSH_RBX_R12
    pushq $0                           /* alignment for calls, and written: this
                                          frame sits above the erased region, so
                                          no slot of it may keep stale bytes   */
    .cfi_def_cfa_offset 32
    mov %rsi, %rbx                     /* rbx = args (the caller's)            */
    mov %rdx, %r12
    btr $63, %r12                      /* r12 = nargs                          */
    call ss_scope_exit                 /* keeps rbx, r12 (callee-saved)         */
    test %rax, %rax
    jz .Lchecked_out
    cmp $3, %r12
    jb .Lchecked_out
    cmpq $0, (ss_call_hooks + HOOK_CLEAR_BLOCK)(%rip)
    je .Lchecked_out
    mov 16(%rbx), %rcx                 /* tb                                   */
    cmp (ss_api + API_NONE)(%rip), %rcx
    je .Lchecked_out
    mov %rax, %r12                     /* r12 = the exit's result               */
    mov (ss_call_hooks + HOOK_CLEAR_BLOCK)(%rip), %rdi
    lea 8(%rbx), %rsi                  /* (exc, tb)                            */
    mov $2, %edx
    xor %ecx, %ecx
    call *(ss_api + API_VECTORCALL)(%rip)
    test %rax, %rax
    jz .Lchecked_hook_raised
    mov %rax, %rdi
    call *(ss_api + API_DECREF)(%rip)
    mov %r12, %rax
    jmp .Lchecked_out
.Lchecked_hook_raised:
    mov %r12, %rdi                     /* the hook raised: report that          */
    call *(ss_api + API_DECREF)(%rip)
    xor %eax, %eax
.Lchecked_out:
    add $8, %rsp
    .cfi_def_cfa_offset 24
    POP_RBX_R12
    ret
ENDFUNC ss_scope_exit_checked

/*
 * result_hooks — a decorated call's result, after its scope.   [internal]
 *   in:  rdi = the result (new reference), or NULL with an exception set
 *   out: rax = the result, or what HOOK_DRIVE returned for a generator,
 *        coroutine or async generator (the original's reference is
 *        released), or NULL with an exception (error_hook has run).
 *   clobbers: caller-saved registers (standard ABI).  Runs outside the scope.
 */
LOCALFUNC result_hooks
    test %rdi, %rdi
    jz error_hook                      /* tail call                             */
    mov %rdi, %rax
    cmpq $0, (ss_call_hooks + HOOK_DRIVE)(%rip)
    je 9f
    mov (ss_object_layout + LAYOUT_TYPE)(%rip), %rcx
    mov (%rdi, %rcx), %rcx             /* rcx = Py_TYPE(result)                 */
    cmp (ss_call_hooks + HOOK_GEN_TYPE)(%rip), %rcx
    je .Ldrive
    cmp (ss_call_hooks + HOOK_CORO_TYPE)(%rip), %rcx
    je .Ldrive
    cmp (ss_call_hooks + HOOK_ASYNCGEN_TYPE)(%rip), %rcx
    je .Ldrive
9:  ret
.Ldrive:
    push %rdi                          /* args[0] = the result; 16-aligned      */
    .cfi_def_cfa_offset 16
    sub $16, %rsp                      /* 8(%rsp) = the driver's result         */
    .cfi_def_cfa_offset 32
    mov (ss_call_hooks + HOOK_DRIVE)(%rip), %rdi
    lea 16(%rsp), %rsi
    mov $1, %edx
    xor %ecx, %ecx
    call *(ss_api + API_VECTORCALL)(%rip)   /* drive(result): new ref or NULL  */
    mov %rax, 8(%rsp)
    mov 16(%rsp), %rdi
    call *(ss_api + API_DECREF)(%rip)  /* the driver holds its own reference    */
    mov 8(%rsp), %rax
    add $24, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC result_hooks

/*
 * error_hook — an exception leaving a scope.                   [internal]
 *   in:  rdi = the scope's result; only NULL (an exception is set) is acted
 *        on: if it has a traceback, HOOK_CLEAR(value, tb) clears the locals
 *        of the scope's finished frames (the traceback keeps every entry).
 *        The exception is fetched around that call and restored unchanged
 *        (anything HOOK_CLEAR raised is discarded with it).
 *   out: rax = rdi.
 *   clobbers: caller-saved registers (standard ABI).  Runs outside the scope.
 */
LOCALFUNC error_hook
    mov %rdi, %rax
    test %rdi, %rdi
    jnz 9f
    cmpq $0, (ss_call_hooks + HOOK_CLEAR)(%rip)
    je 9f
    sub $40, %rsp                      /* 0: type, 8: value, 16: tb, 24: args   */
    .cfi_def_cfa_offset 48
    mov %rsp, %rdi
    lea 8(%rsp), %rsi
    lea 16(%rsp), %rdx
    call *(ss_call_hooks + HOOK_ERR_FETCH)(%rip)
    mov 16(%rsp), %rax
    test %rax, %rax
    jz 2f                              /* no traceback: nothing to clear        */
    mov %rax, 32(%rsp)                 /* args = (value or None, tb)            */
    mov 8(%rsp), %rax
    test %rax, %rax
    jnz 1f
    mov (ss_api + API_NONE)(%rip), %rax
1:  mov %rax, 24(%rsp)
    mov (ss_call_hooks + HOOK_CLEAR)(%rip), %rdi
    lea 24(%rsp), %rsi
    mov $2, %edx
    xor %ecx, %ecx
    call *(ss_api + API_VECTORCALL)(%rip)
    test %rax, %rax
    jz 2f                              /* it raised: Restore replaces that      */
    mov %rax, %rdi
    call *(ss_api + API_DECREF)(%rip)
2:  mov (%rsp), %rdi
    mov 8(%rsp), %rsi
    mov 16(%rsp), %rdx
    call *(ss_call_hooks + HOOK_ERR_RESTORE)(%rip)  /* steals the three refs */
    xor %eax, %eax
    add $40, %rsp
    .cfi_def_cfa_offset 8
9:  ret
ENDFUNC error_hook

/*
 * PyObject *ss_object_get(PyObject *self, PyObject *obj, PyObject *type)
 *                                                            [tp_descr_get]
 * Binding, as for a Python function: through an instance, a bound method;
 * through the class (obj NULL or None), the object itself.
 */
FUNC ss_object_get
    test %rsi, %rsi
    jz 1f
    cmp (ss_api + API_NONE)(%rip), %rsi
    je 1f
    jmp *(ss_api + API_METHOD_NEW)(%rip)       /* PyMethod_New(self, obj)    */
1:  push %rdi
    .cfi_def_cfa_offset 16
    call *(ss_api + API_INCREF)(%rip)
    pop %rax
    .cfi_def_cfa_offset 8
    ret
ENDFUNC ss_object_get

/*
 * int ss_object_traverse(PyObject *self, visitproc visit, void *arg)
 *                                                            [tp_traverse]
 * Visits the wrapped callable, the __dict__ and (a heap type's instance
 * owns a reference to it) the type.  out: eax = the first nonzero visit
 * result, or 0.
 */
FUNC ss_object_traverse
    PUSH_RBX_R12_R13
    mov %rdi, %rbx                     /* rbx = self                            */
    mov %rsi, %r12                     /* r12 = visit                           */
    mov %rdx, %r13                     /* r13 = arg                             */
    .irp field, LAYOUT_F, LAYOUT_DICT, LAYOUT_TYPE
    mov (ss_object_layout + \field)(%rip), %rax
    mov (%rbx, %rax), %rdi
    test %rdi, %rdi
    jz 1f
    mov %r13, %rsi
    call *%r12
    test %eax, %eax
    jnz 2f
1:
    .endr
    xor %eax, %eax
2:  POP_RBX_R12_R13
    ret
ENDFUNC ss_object_traverse

/*
 * int ss_object_clear(PyObject *self)                        [tp_clear]
 * Drops the wrapped callable and the __dict__ (each field is NULL before its
 * reference is released).  out: eax = 0.
 */
FUNC ss_object_clear
    push %rbx
    .cfi_def_cfa_offset 16
    .cfi_offset %rbx, -16
    mov %rdi, %rbx
    .irp field, LAYOUT_F, LAYOUT_DICT
    mov (ss_object_layout + \field)(%rip), %rax
    mov (%rbx, %rax), %rdi
    movq $0, (%rbx, %rax)
    test %rdi, %rdi
    jz 1f
    call *(ss_api + API_DECREF)(%rip)
1:
    .endr
    xor %eax, %eax
    pop %rbx
    .cfi_def_cfa_offset 8
    ret
ENDFUNC ss_object_clear

/*
 * void ss_object_dealloc(PyObject *self)                     [tp_dealloc]
 * Untracks the object, clears weak references to it and its fields, frees
 * it (PyObject_GC_Del) and releases the reference it held to its type.
 */
FUNC ss_object_dealloc
    PUSH_RBX_R12_R13
    mov %rdi, %rbx                     /* rbx = self                            */
    mov (ss_object_layout + LAYOUT_TYPE)(%rip), %rax
    mov (%rbx, %rax), %r12             /* r12 = its type                        */
    call *(ss_api + API_GC_UNTRACK)(%rip)
    mov (ss_object_layout + LAYOUT_WEAKLIST)(%rip), %rax
    cmpq $0, (%rbx, %rax)
    je 1f
    mov %rbx, %rdi
    call *(ss_api + API_CLEAR_WEAKREFS)(%rip)
1:  mov %rbx, %rdi
    call ss_object_clear
    mov %rbx, %rdi
    call *(ss_api + API_GC_DEL)(%rip)
    mov %r12, %rdi
    call *(ss_api + API_DECREF)(%rip)
    POP_RBX_R12_R13
    ret
ENDFUNC ss_object_dealloc

GNU_PROPERTY_NOTES
