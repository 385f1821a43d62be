/*
 * alloc.S — a test-only object that allocates the way native libraries do:
 * through its own PLT/GOT entries for malloc and its family (undefined
 * symbols, bound by the dynamic loader to the C library).  Built into
 * libsecretscope-probe-alloc-<arch>.so; nothing here takes part in
 * protection.  tests/test_native_heap.py loads it (and copies of it, to
 * play a library loaded later) and checks that blocks obtained here inside a
 * scope hold no sentinel once freed.
 *
 * Each pa_<name> has the C signature of <name> and tail-calls it through the
 * PLT (JUMP_SLOT relocation); pa_malloc_got and pa_free_got go through a
 * GLOB_DAT GOT entry instead, as code that takes the function's address does.
 */
.equ MASK, 0xa5a5a5a5a5a5a5a5

.macro FUNC name
    .globl \name
    .type \name, @function
    .p2align 4
\name:
    .cfi_startproc
    endbr64
.endm
.macro ENDFUNC name
    .cfi_endproc
    .size \name, . - \name
.endm
.macro VIA_PLT name
FUNC pa_\name
    jmp \name@PLT
ENDFUNC pa_\name
.endm

    .text
VIA_PLT malloc
VIA_PLT calloc
VIA_PLT realloc
VIA_PLT reallocarray
VIA_PLT posix_memalign
VIA_PLT aligned_alloc
VIA_PLT memalign
VIA_PLT valloc
VIA_PLT pvalloc
VIA_PLT free

FUNC pa_malloc_got
    jmp *malloc@GOTPCREL(%rip)
ENDFUNC pa_malloc_got
FUNC pa_free_got
    jmp *free@GOTPCREL(%rip)
ENDFUNC pa_free_got

/*
 * void pa_fill(void *block, size_t bytes, uint64_t masked)         [ctypes]
 * Writes the sentinel (masked ^ MASK) into every whole 8-byte word of the
 * block, then clears the registers that held it.  clobbers: rax, rcx, rdx, rdi.
 */
FUNC pa_fill
    movabs $MASK, %rax
    xor %rdx, %rax
    shr $3, %rsi
    mov %rsi, %rcx
    rep stosq
    xor %eax, %eax
    xor %edx, %edx
    ret
ENDFUNC pa_fill

    .section .note.GNU-stack, "", @progbits
    .pushsection .note.gnu.property, "a"
    .p2align 3
    .long 4
    .long 16
    .long 5
    .asciz "GNU"
    .long 0xc0000002
    .long 4
    .long 3
    .p2align 3
    .popsection
