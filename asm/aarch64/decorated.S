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
    .type ss_object_layout, %object
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
 *        exception.  Branches into ss_call's scope with self replaced by f.
 */
FUNC ss_object_call
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_F
    ldr x0, [x0, x9]                    /* x0 = the wrapped callable            */
    cbz x0, 1f
    b scope_call                        /* past ss_call's landing pad           */
1:  LDR_GLOBAL x0, ss_api, API_EXC_RUNTIME
    adrp x1, msg_cleared
    add x1, x1, #:lo12:msg_cleared
    LDR_GLOBAL x16, ss_api, API_ERR_SET_STRING
    br x16                              /* returns 0 = NULL: raise              */
ENDFUNC ss_object_call

/*
 * PyObject *ss_object_get(PyObject *self, PyObject *obj, PyObject *type)
 *                                                            [tp_descr_get]
 * Binding, as for a Python function: through an instance, a bound method;
 * through the class (obj NULL or None), the object itself.
 */
FUNC ss_object_get
    cbz x1, 1f
    LDR_GLOBAL x9, ss_api, API_NONE
    cmp x1, x9
    b.eq 1f
    LDR_GLOBAL x16, ss_api, API_METHOD_NEW
    br x16                              /* PyMethod_New(self, obj)              */
1:  PROLOGUE 32
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
    PROLOGUE 48
    stp x19, x20, [sp, #16]
    .cfi_offset x19, -32
    .cfi_offset x20, -24
    str x21, [sp, #32]
    .cfi_offset x21, -16
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
2:  ldp x19, x20, [sp, #16]
    ldr x21, [sp, #32]
    RETURN 48
ENDFUNC ss_object_traverse

/*
 * int ss_object_clear(PyObject *self)                        [tp_clear]
 * Drops the wrapped callable and the __dict__ (each field is NULL before its
 * reference is released).  out: w0 = 0.
 */
FUNC ss_object_clear
    PROLOGUE 32
    str x19, [sp, #16]
    .cfi_offset x19, -16
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
    ldr x19, [sp, #16]
    RETURN 32
ENDFUNC ss_object_clear

/*
 * void ss_object_dealloc(PyObject *self)                     [tp_dealloc]
 * Untracks the object, clears weak references to it and its fields, frees
 * it (PyObject_GC_Del) and releases the reference it held to its type.
 */
FUNC ss_object_dealloc
    PROLOGUE 32
    stp x19, x20, [sp, #16]
    .cfi_offset x19, -16
    .cfi_offset x20, -8
    mov x19, x0                         /* x19 = self                           */
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_TYPE
    ldr x20, [x19, x9]                  /* x20 = its type                       */
    LDR_GLOBAL x16, ss_api, API_GC_UNTRACK
    blr x16
    LDR_GLOBAL x9, ss_object_layout, LAYOUT_WEAKLIST
    ldr x9, [x19, x9]
    cbz x9, 1f
    mov x0, x19
    LDR_GLOBAL x16, ss_api, API_CLEAR_WEAKREFS
    blr x16
1:  mov x0, x19
    bl ss_object_clear
    mov x0, x19
    LDR_GLOBAL x16, ss_api, API_GC_DEL
    blr x16
    mov x0, x20
    LDR_GLOBAL x16, ss_api, API_DECREF
    blr x16
    ldp x19, x20, [sp, #16]
    RETURN 32
ENDFUNC ss_object_dealloc

GNU_PROPERTY_NOTES
