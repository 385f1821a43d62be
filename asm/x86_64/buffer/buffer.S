/*
 * buffer.S — the two C-level slots of SecretBuffer's base type (x86-64).
 *
 * A SecretBuffer is a bytearray whose storage pointers (ob_bytes, ob_start)
 * point into a locked mapping of its own (secretscope/_secretmemory.py); its
 * base type is made by secretscope/_bytearray_storage.py with
 * PyType_FromSpecWithBases((bytearray,)), adding two words after the
 * PyByteArrayObject: the data pointer (0 once closed) and the data length.
 * These routines are that type's bf_getbuffer and tp_dealloc.  Built into its
 * own object (libsecretscope_buffer_x86_64.so), independent of the scope
 * backend: it needs no CPU feature and holds no state but the table below.
 */

.include "../standalone.inc"
.include "../macros.inc"
/* buffer_api and its layout (BA_*): asm/shared, the same on both arches */
.include "buffer.data.inc"

    .text
/*
 * int buffer_getbuffer(PyObject *self, Py_buffer *view, int flags)
 *                                                            [bf_getbuffer]
 *   out: a closed buffer (data pointer 0): eax = -1 with ValueError set;
 *        otherwise tail-jumps to bytearray's bf_getbuffer (which exports
 *        ob_start..ob_start+ob_size and counts the export in ob_exports).
 *   clobbers: rax and what PyErr_SetString / bytearray's slot clobber.
 */
FUNC buffer_getbuffer
    mov (buffer_api + BA_OFF_DATA)(%rip), %rax
    cmpq $0, (%rdi, %rax)
    je .Lgetbuffer_closed
    jmp *(buffer_api + BA_BASE_GETBUFFER)(%rip)
.Lgetbuffer_closed:
    sub $8, %rsp                       /* align the stack for the call          */
    .cfi_def_cfa_offset 16
    mov (buffer_api + BA_EXC_VALUE)(%rip), %rdi
    lea msg_closed(%rip), %rsi
    call *(buffer_api + BA_ERR_SET_STRING)(%rip)
    mov $-1, %eax
    add $8, %rsp
    .cfi_def_cfa_offset 8
    ret
ENDFUNC buffer_getbuffer

/*
 * void buffer_dealloc(PyObject *self)                          [tp_dealloc]
 * The last step of destroying a SecretBuffer (subtype_dealloc calls it after
 * __del__, which normally closed the buffer).  Should the data still be
 * attached (a __del__ interrupted), its bytes are zeroed here and the mapping
 * is left in place (leaked, never freed by the allocator).  Then the object
 * is made an empty bytearray without exports — nothing for bytearray's
 * dealloc to free (ob_bytes 0; on 3.15 it releases ob_bytes_object, which
 * stays bytearray's own) and no "exported buffers" complaint — bytearray's
 * tp_dealloc frees it, and the reference the instance held to its heap type
 * is released (subtype_dealloc leaves that to a heap base's dealloc).
 *   clobbers: rax, rcx, rdi, rsi, rdx, r8-r11 (rbx, r12 saved).
 */
FUNC buffer_dealloc
    PUSH_RBX_R12
    sub $8, %rsp
    .cfi_def_cfa_offset 32
    mov %rdi, %rbx                     /* rbx = self                            */
    mov (buffer_api + BA_OFF_TYPE)(%rip), %rax
    mov (%rbx, %rax), %r12             /* r12 = its type                        */
    mov (buffer_api + BA_OFF_DATA)(%rip), %rax
    mov (%rbx, %rax), %rdi             /* rdi = data still attached, or 0       */
    test %rdi, %rdi
    jz .Ldealloc_detach
    mov (buffer_api + BA_OFF_LEN)(%rip), %rcx
    mov (%rbx, %rcx), %rcx
    xor %eax, %eax
    rep stosb                          /* zero rcx bytes at rdi                 */
.Ldealloc_detach:
    .irp field, BA_OFF_DATA, BA_OFF_LEN, BA_OFF_SIZE, BA_OFF_BYTES, BA_OFF_START, BA_OFF_EXPORTS
    mov (buffer_api + \field)(%rip), %rax
    movq $0, (%rbx, %rax)
    .endr
    mov %rbx, %rdi
    call *(buffer_api + BA_BASE_DEALLOC)(%rip)
    mov %r12, %rdi
    call *(buffer_api + BA_DECREF)(%rip)
    add $8, %rsp
    .cfi_def_cfa_offset 24
    POP_RBX_R12
    ret
ENDFUNC buffer_dealloc

GNU_PROPERTY_NOTES
