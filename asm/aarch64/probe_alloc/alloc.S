/*
 * alloc.S — the AArch64 port of asm/x86_64/probe_alloc/alloc.S: a test-only
 * object that allocates through its own PLT/GOT entries for malloc and its
 * family, as native libraries do.  Nothing here takes part in protection.
 */
.equ MASK, 0xa5a5a5a5a5a5a5a5

.include "../base.inc"
.include "allocators.inc"
.include "../macros.inc"
.macro VIA_PLT name
FUNC pa_\name
    b \name                     /* through the PLT: a JUMP_SLOT relocation */
ENDFUNC pa_\name
.endm

    .text
    FOR_EACH_ALLOCATOR VIA_PLT       /* allocators.inc (asm/shared) */

/* Through a GLOB_DAT GOT entry, as code that takes the function's address. */
FUNC pa_malloc_got
    adrp x16, :got:malloc
    ldr x16, [x16, #:got_lo12:malloc]
    br x16
ENDFUNC pa_malloc_got
FUNC pa_free_got
    adrp x16, :got:free
    ldr x16, [x16, #:got_lo12:free]
    br x16
ENDFUNC pa_free_got

/*
 * pa_tramp_malloc, pa_tramp_free                                   [bench]
 * A bare trampoline: one indirect branch through pa_tramp_next[0] / [1]
 * (the bench stores libc's malloc and free there), nothing else: the least
 * any function interposed before the allocator costs.  clobbers: x16.
 */
FUNC pa_tramp_malloc
    adrp x16, pa_tramp_next
    ldr x16, [x16, :lo12:pa_tramp_next]
    br x16                             /* x16: a valid target of "bti c"          */
ENDFUNC pa_tramp_malloc
FUNC pa_tramp_free
    adrp x16, pa_tramp_next
    add x16, x16, :lo12:pa_tramp_next
    ldr x16, [x16, #8]
    br x16
ENDFUNC pa_tramp_free

    .data
    .p2align 4
    .globl pa_tramp_next
    .type pa_tramp_next, %object
pa_tramp_next:
    .quad 0, 0
    .size pa_tramp_next, 16
    .text

/*
 * void pa_malloc_many(void **out, size_t n, size_t size), pa_free_many(void **blocks,
 * size_t n), pa_loop(size_t n, size_t size): as on x86-64.  clobbers: caller-saved
 * registers (x19-x21 are saved).
 */
FUNC pa_malloc_many
    ENTER 48, x19, x20, x21
    mov x19, x0
    mov x20, x1
    mov x21, x2
1:  cbz x20, 2f
    mov x0, x21
    bl malloc
    str x0, [x19], #8
    sub x20, x20, #1
    b 1b
2:  LEAVE_RETURN 48, x19, x20, x21
ENDFUNC pa_malloc_many

FUNC pa_free_many
    ENTER 48, x19, x20, x21
    mov x19, x0
    mov x20, x1
1:  cbz x20, 2f
    ldr x0, [x19], #8
    bl free
    sub x20, x20, #1
    b 1b
2:  LEAVE_RETURN 48, x19, x20, x21
ENDFUNC pa_free_many

FUNC pa_loop
    ENTER 48, x19, x20, x21
    mov x20, x0
    mov x21, x1
1:  cbz x20, 2f
    mov x0, x21
    bl malloc
    bl free
    sub x20, x20, #1
    b 1b
2:  LEAVE_RETURN 48, x19, x20, x21
ENDFUNC pa_loop

/* void pa_loop_via(size_t n, size_t size, void *(*m)(size_t), void (*f)(void *)):
 * as on x86-64. */
FUNC pa_loop_via
    ENTER 48, x19, x20, x21, x22
    mov x19, x0
    mov x20, x1
    mov x21, x2
    mov x22, x3
1:  cbz x19, 2f
    mov x0, x20
    blr x21
    blr x22
    sub x19, x19, #1
    b 1b
2:  LEAVE_RETURN 48, x19, x20, x21, x22
ENDFUNC pa_loop_via

/*
 * void pa_fill(void *block, size_t bytes, uint64_t masked)         [ctypes]
 * Writes the sentinel (masked ^ MASK) into every whole 8-byte word of the
 * block, then clears the register that held it.  clobbers: x0-x3.
 */
FUNC pa_fill
    mov x3, #MASK & 0xffff
    movk x3, #(MASK >> 16) & 0xffff, lsl #16
    movk x3, #(MASK >> 32) & 0xffff, lsl #32
    movk x3, #(MASK >> 48) & 0xffff, lsl #48
    eor x2, x2, x3
    lsr x1, x1, #3
1:  cbz x1, 2f
    str x2, [x0], #8
    sub x1, x1, #1
    b 1b
2:  mov x2, #0
    mov x3, #0
    ret
ENDFUNC pa_fill

GNU_PROPERTY_NOTES
