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

    .data
    .p2align 3
/* Byte offsets within an instance: LAYOUT_* in common.inc. */
    .globl ss_object_layout
    .type ss_object_layout, @object
ss_object_layout:
    .zero LAYOUT_SIZE
    .size ss_object_layout, . - ss_object_layout

    .section .rodata
msg_cleared:
    .asciz "secretscope: this decorated function was cleared (its object is being destroyed)"

    .text
/*
 * PyObject *ss_object_call(PyObject *self, PyObject *const *args,
 *                          size_t nargsf, PyObject *kwnames)    [vectorcall]
 *   out: f(*args, **kw) run inside a scope (see ss_call), or NULL with an
 *        exception.  Tail-jumps into ss_call's scope with self replaced by f.
 */
FUNC ss_object_call
    mov (ss_object_layout + LAYOUT_F)(%rip), %rax
    mov (%rdi, %rax), %rdi             /* rdi = the wrapped callable            */
    test %rdi, %rdi
    jz 1f
    jmp scope_call                     /* past ss_call's landing pad            */
1:  mov (ss_api + API_EXC_RUNTIME)(%rip), %rdi
    lea msg_cleared(%rip), %rsi
    jmp *(ss_api + API_ERR_SET_STRING)(%rip)   /* returns 0 = NULL: raise    */
ENDFUNC ss_object_call

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
