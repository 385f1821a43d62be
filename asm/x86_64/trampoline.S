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
 * caller-saved registers are cleared last, just before returning.
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
 * lies in the registered stack, and increments the depth.
 *   in:  rdi = the stack pointer below which the scope will be erased
 *   out: rax = slot, or 0 with a Python exception set
 *   clobbers: caller-saved registers (standard ABI).
 */
LOCALFUNC scope_begin
    PUSH_RBX_R12
    sub $8, %rsp                       /* 16-byte alignment for calls          */
    .cfi_def_cfa_offset 32
    mov %rdi, %r12                     /* r12 = stack pointer to protect below */
    mov %fs:0, %rdi
    call slot_find
    test %rax, %rax
    jz .Lregister
    testq $SLOTF_REGISTERED, SLOT_FLAGS(%rax)
    jz .Lregister
.Lhave_slot:
    cmp SLOT_FLOOR(%rax), %r12         /* floor <= sp < high                    */
    jb .Lbad_sp
    cmp SLOT_HIGH(%rax), %r12
    jae .Lbad_sp
    incq SLOT_DEPTH(%rax)
    cmpq $1, SLOT_DEPTH(%rax)
    jne .Lbegin_out
    lock incq ss_heap_active(%rip)     /* first scope on this thread: heap.S    */
    call ss_freelists_enter            /* free lists (freelists.S; keeps all regs) */
    call signals_arm                   /* rseq notices signals from now on      */
.Lbegin_out:
    add $8, %rsp
    .cfi_remember_state
    .cfi_def_cfa_offset 24
    POP_RBX_R12
    ret
    .cfi_restore_state
.Lregister:
    /* First scope on this thread: the Python side computes the bounds and
     * calls ss_register_thread. */
    mov (ss_api + API_REGISTER_CB)(%rip), %rdi
    call *(ss_api + API_CALL_NOARGS)(%rip)
    test %rax, %rax
    jz .Lbegin_out                     /* the callback raised                  */
    mov %rax, %rdi
    call *(ss_api + API_DECREF)(%rip)
    mov %fs:0, %rdi
    call slot_find
    test %rax, %rax
    jz .Lbegin_unregistered
    testq $SLOTF_REGISTERED, SLOT_FLAGS(%rax)
    jnz .Lhave_slot
.Lbegin_unregistered:
    lea msg_unregistered(%rip), %rsi
    jmp .Lbegin_error
.Lbad_sp:
    lea msg_bad_sp(%rip), %rsi
.Lbegin_error:
    mov (ss_api + API_EXC_RUNTIME)(%rip), %rdi
    call *(ss_api + API_ERR_SET_STRING)(%rip)
    xor %eax, %eax
    jmp .Lbegin_out
ENDFUNC scope_begin

/*
 * scope_end_depth                                        [internal, leaf]
 *   in: rbx = slot.  Leaves the scope: decrements the depth, and the count
 *   of threads inside scopes when this was the thread's outermost one.
 *   Preserves rax (scrub_stack's result).  clobbers: flags; and rcx, rdx,
 *   rsi, rdi, r8-r11 (zeroed) on the outermost exit (ss_freelists_exit).
 */
LOCALFUNC scope_end_depth
    decq SLOT_DEPTH(%rbx)
    jnz .Lend_depth_out
    lock decq ss_heap_active(%rip)
    call ss_freelists_exit             /* free lists (freelists.S; zeroes rcx-r11) */
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
 *   guarantees on return: see clear_registers and scrub_stack; rcx, rdx,
 *   rsi, rdi, r8-r11 are zero; rbx, rbp, r12-r15 are the caller's.
 */
FUNC ss_call
    .globl scope_call
    .hidden scope_call
scope_call:                            /* decorated.S enters here with f        */
.Lcall_body:
    SCOPE_PROLOGUE
    mov %rdi, %r12                     /* r12 = f                              */
    mov %rsi, %r13                     /* r13 = args                           */
    mov %rdx, %r14                     /* r14 = nargsf                         */
    mov %rcx, %r15                     /* r15 = kwnames                        */
    mov %rsp, %rdi
    call scope_begin
    test %rax, %rax
    jz .Lcall_return                   /* rax = NULL, exception set            */
    mov %rax, %rbx                     /* rbx = slot                           */
    fnstcw CTL(%rsp)
    stmxcsr (CTL + 4)(%rsp)
    mov %r12, %rdi
    mov %r13, %rsi
    mov %r14, %rdx
    mov %r15, %rcx
    call *(ss_api + API_VECTORCALL)(%rip)   /* f runs entirely below rsp       */
    mov %rax, %r12                     /* r12 = result (a pointer, or NULL)    */
    SCOPE_ERASE                        /* macros.inc: registers, stack, altstack,
                                          depth; rax = r13 = scrub result      */
    test %rax, %rax
    jnz .Lcall_scrub_failed
    mov %r12, %rax
.Lcall_return:
    CLEAR_GPRS_BUT_RAX
    SCOPE_EPILOGUE
.Lcall_scrub_failed:
    /* Never claim an erasure that did not happen: drop f's result and raise. */
    test %r12, %r12
    jz .Lcall_raise
    mov %r12, %rdi
    call *(ss_api + API_DECREF)(%rip)
.Lcall_raise:
    mov (ss_api + API_EXC_RUNTIME)(%rip), %rdi
    lea msg_scrub_failed(%rip), %rsi
    call *(ss_api + API_ERR_SET_STRING)(%rip)
    xor %eax, %eax
    jmp .Lcall_return
ENDFUNC ss_call

/*
 * PyObject *ss_do(PyObject *self, PyObject *const *args, size_t nargsf,
 *                 PyObject *kwnames)                [METH_FASTCALL|KEYWORDS]
 *
 * secretscope.do(f, *args, **kwargs): shifts f out of the arguments and runs
 * the same scope as ss_call.
 */
FUNC ss_do
    mov %rdx, %rax
    btr $63, %rax                      /* rax = nargs (PY_VECTORCALL_ARGUMENTS_OFFSET off) */
    test %rax, %rax
    jz 1f
    mov (%rsi), %rdi                   /* f = args[0]                          */
    add $8, %rsi
    lea -1(%rax), %rdx                 /* no offset flag: args[0] is not ours to borrow */
    jmp .Lcall_body
1:  sub $8, %rsp
    .cfi_def_cfa_offset 16
    mov (ss_api + API_EXC_TYPE)(%rip), %rdi
    lea msg_do_noargs(%rip), %rsi
    call *(ss_api + API_ERR_SET_STRING)(%rip)
    xor %eax, %eax
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
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
    test %rcx, %rcx
    jnz 1f
    jmp *(ss_api + API_VECTORCALL_DICT)(%rip)   /* kwdict = rcx = NULL      */
1:
    PUSH_RBX_R12_R15
    mov %rdi, %rbx                     /* callable                             */
    mov %rsi, %r12                     /* args                                 */
    mov %rdx, %r13                     /* nargsf                               */
    mov %rdx, %rax
    btr $63, %rax
    lea (%rsi, %rax, 8), %rdi          /* keyword values follow the positionals */
    mov %rcx, %rsi
    call *(ss_api + API_STACK_AS_DICT)(%rip)
    test %rax, %rax
    jz 2f
    mov %rax, %r14                     /* r14 = kwargs dict                    */
    mov %rbx, %rdi
    mov %r12, %rsi
    mov %r13, %rdx
    btr $63, %rdx
    mov %r14, %rcx
    call *(ss_api + API_VECTORCALL_DICT)(%rip)
    mov %rax, %r15                     /* r15 = result                         */
    mov %r14, %rdi
    call *(ss_api + API_DECREF)(%rip)
    mov %r15, %rax
2:
    POP_RBX_R12_R15
    ret
ENDFUNC ss_vectorcall_compat

GNU_PROPERTY_NOTES
