/*
 * buffer.S — the two C-level slots of SecretBuffer's base type (AArch64).
 *
 * A SecretBuffer is a bytearray whose storage pointers (ob_bytes, ob_start)
 * point into a locked mapping of its own (secretscope/_secretmemory.py); its
 * base type is made by secretscope/_bytearray_storage.py with
 * PyType_FromSpecWithBases((bytearray,)), adding two words after the
 * PyByteArrayObject: the data pointer (0 once closed) and the data length.
 * These routines are that type's bf_getbuffer and tp_dealloc.  Built into its
 * own object (libsecretscope_buffer_aarch64.so), independent of the scope
 * backend: it needs no CPU feature and holds no state but the table below.
 */

.include "../base.inc"
.include "../macros.inc"
/* buffer_api and its layout (BA_*): asm/shared, the same on both arches */
.include "buffer.data.inc"

    .text
/*
 * int buffer_getbuffer(PyObject *self, Py_buffer *view, int flags)
 *                                                            [bf_getbuffer]
 *   out: a closed buffer (data pointer 0): w0 = -1 with ValueError set;
 *        otherwise tail-branches (br x16, accepted by a `bti c` landing pad)
 *        to bytearray's bf_getbuffer with x0-x2 untouched.
 *   clobbers: x9, x10, x16 and what PyErr_SetString / bytearray's slot clobber.
 */
FUNC buffer_getbuffer
    LDR_GLOBAL x9, buffer_api, BA_OFF_DATA
    ldr x10, [x0, x9]
    cbz x10, .Lgetbuffer_closed
    LDR_GLOBAL x16, buffer_api, BA_BASE_GETBUFFER
    br x16
.Lgetbuffer_closed:
    PROLOGUE 16
    LDR_GLOBAL x0, buffer_api, BA_EXC_VALUE
    adrp x1, msg_closed
    add x1, x1, #:lo12:msg_closed
    LDR_GLOBAL x16, buffer_api, BA_ERR_SET_STRING
    blr x16
    mov w0, #-1
    RETURN 16
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
 *   clobbers: x0-x18 (x19, x20 saved).
 */
FUNC buffer_dealloc
    ENTER 32, x19, x20
    mov x19, x0                        /* x19 = self                            */
    LDR_GLOBAL x9, buffer_api, BA_OFF_TYPE
    ldr x20, [x19, x9]                 /* x20 = its type                        */
    LDR_GLOBAL x9, buffer_api, BA_OFF_DATA
    ldr x10, [x19, x9]                 /* x10 = data still attached, or 0       */
    cbz x10, .Ldealloc_detach
    LDR_GLOBAL x11, buffer_api, BA_OFF_LEN
    ldr x11, [x19, x11]                /* x11 = bytes left to zero              */
.Ldealloc_zero:
    cbz x11, .Ldealloc_detach
    strb wzr, [x10], #1
    sub x11, x11, #1
    b .Ldealloc_zero
.Ldealloc_detach:
    .irp field, BA_OFF_DATA, BA_OFF_LEN, BA_OFF_SIZE, BA_OFF_BYTES, BA_OFF_START, BA_OFF_EXPORTS
    LDR_GLOBAL x9, buffer_api, \field
    str xzr, [x19, x9]
    .endr
    mov x0, x19
    LDR_GLOBAL x16, buffer_api, BA_BASE_DEALLOC
    blr x16
    mov x0, x20
    LDR_GLOBAL x16, buffer_api, BA_DECREF
    blr x16
    LEAVE_RETURN 32, x19, x20
ENDFUNC buffer_dealloc

GNU_PROPERTY_NOTES
