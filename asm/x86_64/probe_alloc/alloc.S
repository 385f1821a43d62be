/*
 * alloc.S — a test-only object that allocates the way native libraries do:
 * through its own PLT/GOT entries for malloc and its family (undefined
 * symbols, bound by the dynamic loader to the C library).  Built into
 * libsecretscope_probe_alloc_<arch>.so; nothing here takes part in
 * protection.  tests/test_native_heap.py loads it (and copies of it, to
 * play a library loaded later) and checks that blocks obtained here inside a
 * scope hold no sentinel once freed.
 *
 * Each pa_<name> has the C signature of <name> and tail-calls it through the
 * PLT (JUMP_SLOT relocation); pa_malloc_got and pa_free_got go through a
 * GLOB_DAT GOT entry instead, as code that takes the function's address does.
 */

.include "../standalone.inc"
.include "allocators.inc"
.equ MASK, 0xa5a5a5a5a5a5a5a5

.macro VIA_PLT name
FUNC pa_\name
    jmp \name@PLT
ENDFUNC pa_\name
.endm

    .text
    FOR_EACH_ALLOCATOR VIA_PLT       /* allocators.inc (asm/shared) */

FUNC pa_malloc_got
    jmp *malloc@GOTPCREL(%rip)
ENDFUNC pa_malloc_got
FUNC pa_free_got
    jmp *free@GOTPCREL(%rip)
ENDFUNC pa_free_got

/*
 * pa_tramp_malloc, pa_tramp_free                                   [bench]
 * A bare trampoline: one indirect jump through pa_tramp_next[0] / [1]
 * (the bench stores libc's malloc and free there), nothing else.  The cost
 * any function interposed between a caller and its allocator pays at the
 * least, for the bench to set beside the native-heap wrappers'.
 */
FUNC pa_tramp_malloc
    jmp *pa_tramp_next(%rip)
ENDFUNC pa_tramp_malloc
FUNC pa_tramp_free
    jmp *(pa_tramp_next + 8)(%rip)
ENDFUNC pa_tramp_free

    .data
    .p2align 4
    .globl pa_tramp_next
    .type pa_tramp_next, @object
pa_tramp_next:
    .quad 0, 0
    .size pa_tramp_next, 16
    .text

/*
 * void pa_malloc_many(void **out, size_t n, size_t size)          [ctypes]
 * out[i] = malloc(size) for i < n, through the PLT.
 * void pa_free_many(void **blocks, size_t n)                       [ctypes]
 * free(blocks[i]) for i < n.
 * void pa_loop(size_t n, size_t size)                      [ctypes, bench]
 * n times free(malloc(size)): the allocator's cost without a foreign call
 * per block.  clobbers: caller-saved registers (rbx, r12, r13 are saved).
 */
FUNC pa_malloc_many
    push %rbx
    push %r12
    push %r13
    mov %rdi, %rbx
    mov %rsi, %r12
    mov %rdx, %r13
1:  test %r12, %r12
    jz 2f
    mov %r13, %rdi
    call malloc@PLT
    mov %rax, (%rbx)
    add $8, %rbx
    dec %r12
    jmp 1b
2:  pop %r13
    pop %r12
    pop %rbx
    ret
ENDFUNC pa_malloc_many

FUNC pa_free_many
    push %rbx
    push %r12
    push %r13
    mov %rdi, %rbx
    mov %rsi, %r12
1:  test %r12, %r12
    jz 2f
    mov (%rbx), %rdi
    call free@PLT
    add $8, %rbx
    dec %r12
    jmp 1b
2:  pop %r13
    pop %r12
    pop %rbx
    ret
ENDFUNC pa_free_many

FUNC pa_loop
    push %rbx
    push %r12
    push %r13
    mov %rdi, %r12
    mov %rsi, %r13
1:  test %r12, %r12
    jz 2f
    mov %r13, %rdi
    call malloc@PLT
    mov %rax, %rdi
    call free@PLT
    dec %r12
    jmp 1b
2:  pop %r13
    pop %r12
    pop %rbx
    ret
ENDFUNC pa_loop

/*
 * void pa_loop_via(size_t n, size_t size, void *(*m)(size_t), void (*f)(void *))
 * pa_loop through the given functions instead of the GOT: the bench's bare
 * figure, measured in the same process as the wrapped one.  [ctypes, bench]
 */
FUNC pa_loop_via
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rdi, %r12
    mov %rsi, %r13
    mov %rdx, %r14
    mov %rcx, %r15
1:  test %r12, %r12
    jz 2f
    mov %r13, %rdi
    call *%r14
    mov %rax, %rdi
    call *%r15
    dec %r12
    jmp 1b
2:  pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    ret
ENDFUNC pa_loop_via

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

GNU_PROPERTY_NOTES
