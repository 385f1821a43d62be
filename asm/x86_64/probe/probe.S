/*
 * probe.S — diagnostic helpers that plant a sentinel in the stack and in the
 * registers, and look for it afterwards.  Built into its own object
 * (libsecretscope_probe_x86_64.so), separate from the protecting code, and
 * used by `python -m secretscope` (live self-test) and by the test suite.
 * Nothing here takes part in protection.
 */

.include "../standalone.inc"
.include "../macros.inc"
.include "../sequences.inc"      /* PAGE_IS_ZERO, ZERO_AVX512_REST: the backend's own */

.equ FEAT_XSAVE, 1
.equ FEAT_AVX, 2
.equ FEAT_AVX512, 4
.equ MASK, 0xa5a5a5a5a5a5a5a5  /* sentinels cross the C/Python boundary masked, so
                                 ctypes' own argument copies never match     */
.equ STACK_SKIP, 512          /* writes start this far below the entry sp, out of
                                 reach of the frames that later call the scanner */

.include "probe.data.inc"          /* asm/shared: the data, both arches */

    .section .rodata
msg_fill_raise:
    .asciz "probe_regs_fill_raise: registers filled, now failing"

    .text
/*
 * void probe_stack_write(uint64_t depth, uint64_t stride, uint64_t masked,
 *                        uint64_t out[2])                          [ctypes]
 *
 * The sentinel is masked ^ MASK.
 * Moves the stack pointer `depth` bytes down and writes 64-byte blocks of
 * the sentinel at depths STACK_SKIP, STACK_SKIP + stride, ... (< depth) and
 * at the very bottom; pages between the blocks are never touched (stride >
 * 4096 leaves gaps).  Leaves them behind when it returns.
 *   out[0] = lowest address written, out[1] = one past the highest.
 *   clobbers: rax, rcx, rdx, rsi, rdi, r8-r11.
 */
FUNC probe_stack_write
    PUSH_RBP_FRAME
    movabs $MASK, %rax
    xor %rax, %rdx                     /* rdx = sentinel                       */
    mov %rsp, %r8
    and $-64, %r8                      /* r8 = top, 64-byte aligned            */
    mov %r8, %r9
    sub %rdi, %r9                      /* r9 = bottom block address            */
    lea -128(%r9), %rsp                /* blocks are above sp: nothing clobbers them */
    mov %r9, (%rcx)
    lea -STACK_SKIP(%r8), %rax
    mov %rax, 8(%rcx)
    mov $STACK_SKIP, %r10              /* r10 = depth of the current block end */
1:  cmp %rdi, %r10
    jae 3f
    mov %r8, %r11
    sub %r10, %r11                     /* block = [top - d - 64, top - d)      */
    sub $64, %r11
    cmp %r9, %r11
    jb 3f
    mov $8, %ecx
2:  mov %rdx, -8(%r11, %rcx, 8)
    dec %ecx
    jnz 2b
    add %rsi, %r10
    jmp 1b
3:  mov $8, %ecx                       /* the bottom block                     */
4:  mov %rdx, -8(%r9, %rcx, 8)
    dec %ecx
    jnz 4b
    mov %rbp, %rsp
    pop %rbp
    .cfi_def_cfa %rsp, 8
    ret
ENDFUNC probe_stack_write

/*
 * uint64_t probe_stack_pointer(void)                                [ctypes]
 *   out: rax = the caller's stack pointer (just above our return address).
 */
FUNC probe_stack_pointer
    lea 8(%rsp), %rax
    ret
ENDFUNC probe_stack_pointer

/*
 * uint64_t probe_stack_scan(uint64_t low, uint64_t high, uint64_t masked)
 *                                                                  [ctypes]
 * Counts 8-byte aligned words equal to the sentinel (masked ^ MASK) in
 * [low, high).  Leaf: the sentinel exists only in rdx here, cleared on return.
 */
FUNC probe_stack_scan
    movabs $MASK, %rax
    xor %rax, %rdx
    xor %eax, %eax
    and $-8, %rdi
1:  cmp %rsi, %rdi
    jae 2f
    cmp %rdx, (%rdi)
    jne 3f
    inc %rax
3:  add $8, %rdi
    jmp 1b
2:  xor %edx, %edx                  /* the sentinel leaves no register behind */
    ret
ENDFUNC probe_stack_scan

/*
 * uint64_t probe_mem_scan(uint64_t low, uint64_t high, uint64_t masked)
 *                                                                  [ctypes]
 * Counts occurrences of the 8-byte sentinel (masked ^ MASK) at ANY byte
 * offset in [low, high) (heap objects need not align their data).  Leaf;
 * rdx (the sentinel) is cleared on return.
 */
FUNC probe_mem_scan
    movabs $MASK, %rax
    xor %rax, %rdx
    xor %eax, %eax
    sub $7, %rsi                       /* last start that fits 8 bytes         */
1:  cmp %rsi, %rdi
    jae 2f
    cmp %rdx, (%rdi)
    jne 3f
    inc %rax
3:  inc %rdi
    jmp 1b
2:  xor %edx, %edx                  /* the sentinel leaves no register behind */
    ret
ENDFUNC probe_mem_scan

/*
 * PyObject *probe_regs_fill(PyObject *self, PyObject *unused)   [METH_NOARGS]
 *
 * Returns None with the sentinel in every caller-saved general-purpose
 * register, in xmm/ymm/zmm0-31 as far as enabled, in k0-k7, in mm0-mm7 (the
 * x87 data registers; tags left empty so the ABI holds), and with all six
 * MXCSR status flags set.
 */
FUNC probe_regs_fill
    xor %eax, %eax                     /* rax = 0: return None                 */
.Lfill_common:
    push %r12
    .cfi_def_cfa_offset 16
    .cfi_offset %r12, -16
    mov %eax, %r12d                    /* r12 = mode: 0 return, 1 raise, 2 signal */
    push %rbx
    .cfi_def_cfa_offset 24
    .cfi_offset %rbx, -24
    sub $24, %rsp                      /* keeps calls 16-byte aligned          */
    .cfi_def_cfa_offset 48
    mov %eax, 12(%rsp)                 /* the mode again, for after cpuid      */
    mov $7, %eax
    xor %ecx, %ecx
    cpuid                              /* leaf 7: EBX bit 30 = AVX512BW        */
    mov %ebx, 8(%rsp)
    cmpl $1, 12(%rsp)                  /* 1: raise instead of returning None   */
    je .Lfill_raise
    mov (probe_api + P_NONE)(%rip), %rbx
    mov %rbx, %rdi
    call *(probe_api + P_INCREF)(%rip) /* before the registers are filled      */
    jmp .Lfill_registers
.Lfill_raise:
    mov (probe_api + P_EXC_VALUE)(%rip), %rdi
    lea msg_fill_raise(%rip), %rsi
    call *(probe_api + P_ERR_SET_STRING)(%rip)
    xor %ebx, %ebx                     /* result: NULL, exception set          */
.Lfill_registers:
    movabs $MASK, %rax
    xor (probe_api + P_SENTINEL)(%rip), %rax   /* the table holds it masked */
    mov (probe_api + P_FEATURES)(%rip), %r8
    mov 8(%rsp), %ecx                  /* leaf 7's ebx                         */
    stmxcsr (%rsp)
    orl $0x3f, (%rsp)                  /* IE DE ZE OE UE PE                    */
    ldmxcsr (%rsp)
    call probe_fill_vectors
    cmp $2, %r12d
    jne .Lfill_gprs
    call probe_signal_self             /* signal mode                          */
.Lfill_gprs:
    movabs $MASK, %rax
    xor (probe_api + P_SENTINEL)(%rip), %rax
    .irp r, rcx, rdx, rsi, rdi, r8, r9, r10, r11
    mov %rax, %\r
    .endr
    mov %rbx, %rax                     /* result: None, or NULL                */
    add $24, %rsp
    .cfi_def_cfa_offset 24
    pop %rbx
    .cfi_def_cfa_offset 16
    pop %r12
    .cfi_def_cfa_offset 8
    ret
ENDFUNC probe_regs_fill

/* \insn register 0 of kind \kind (xmm, ymm) into registers 1-15. */
.macro COPY_0_TO_1_15 insn, kind
    .irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    \insn %\kind\()0, %\kind\r
    .endr
.endm

/*
 * probe_fill_vectors                        [internal, leaf; probe_regs_fill]
 *   The sentinel in mm0-mm7 (tags left empty: emms), and in zmm0-31 and
 *   k0-k7 (AVX-512: 64-bit masks with AVX512BW, else 16-bit), ymm0-15 (AVX)
 *   or xmm0-15, as far as the main library found them enabled.
 *   in:  rax = the sentinel, r8 = its features (ss_features), ecx = CPUID
 *        leaf 7's ebx
 *   clobbers: those registers, flags.
 */
LOCALFUNC probe_fill_vectors
    .irp r, 0,1,2,3,4,5,6,7
    movq %rax, %mm\r
    .endr
    emms                               /* tags empty; data registers keep it   */
    test $FEAT_AVX512, %r8
    jz .Lvectors_no_avx512
    vpbroadcastq %rax, %zmm0
    .irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    vmovdqa64 %zmm0, %zmm\r
    .endr
    test $(1 << 30), %ecx              /* AVX512BW: 64-bit mask registers      */
    jz .Lvectors_short_masks
    .irp k, 0,1,2,3,4,5,6,7
    kmovq %rax, %k\k
    .endr
    ret
.Lvectors_short_masks:                 /* AVX512F only: 16-bit masks           */
    .irp k, 0,1,2,3,4,5,6,7
    kmovw %eax, %k\k
    .endr
    ret
.Lvectors_no_avx512:
    test $FEAT_AVX, %r8
    jz .Lvectors_sse
    vmovq %rax, %xmm0
    vpbroadcastq %xmm0, %ymm0
    COPY_0_TO_1_15 vmovdqa, ymm
    ret
.Lvectors_sse:
    movq %rax, %xmm0
    punpcklqdq %xmm0, %xmm0
    COPY_0_TO_1_15 movdqa, xmm
    ret
ENDFUNC probe_fill_vectors

/*
 * probe_signal_self                         [internal, leaf; probe_regs_fill]
 *   With the vector and mask registers full, make the kernel save them into
 *   a signal frame (tgkill of P_SIGNO to this thread), then spin P_SPIN
 *   times with them (and rax) full so that timer signals land too.
 *   clobbers: rax (the sentinel), rcx, rdx, rsi, rdi, r11, r12, flags.
 */
LOCALFUNC probe_signal_self
    mov $39, %eax                      /* getpid                               */
    syscall
    mov %rax, %rdi
    mov $186, %eax                     /* gettid                               */
    syscall
    mov %rax, %rsi
    mov (probe_api + P_SIGNO)(%rip), %rdx
    mov $234, %eax                     /* tgkill                               */
    syscall
    mov (probe_api + P_SPIN)(%rip), %r12
    movabs $MASK, %rax
    xor (probe_api + P_SENTINEL)(%rip), %rax
.Lsignal_spin:
    test %r12, %r12
    jz .Lsignal_out
    dec %r12
    jmp .Lsignal_spin
.Lsignal_out:
    ret
ENDFUNC probe_signal_self

/*
 * PyObject *probe_regs_fill_signal(PyObject *self, PyObject *unused)
 *                                                             [METH_NOARGS]
 * As probe_regs_fill, then, with every register full of the sentinel,
 * raises signal probe_api[P_SIGNO] on this thread (raw tgkill) and spins
 * probe_api[P_SPIN] iterations: the kernel's signal frames hold the sentinel.
 */
FUNC probe_regs_fill_signal
    mov $2, %eax
    jmp .Lfill_common
ENDFUNC probe_regs_fill_signal

/*
 * PyObject *probe_regs_fill_raise(PyObject *self, PyObject *unused)
 *                                                             [METH_NOARGS]
 * As probe_regs_fill, but sets ValueError and returns NULL: the registers
 * hold the sentinel while the exception travels out of the scope.
 */
FUNC probe_regs_fill_raise
    mov $1, %eax
    jmp .Lfill_common
ENDFUNC probe_regs_fill_raise

/*
 * PyObject *probe_use_stack_<N>(PyObject *self, PyObject *unused)  [METH_NOARGS]
 *
 * The seed benchmark's shape (Go: `var d [N]byte; consume(d[:])`): zero N
 * bytes of fresh stack, read one back, return None.  N = 1 KiB ... 1 MiB.
 */
.macro USE_STACK name, bytes
FUNC \name
    PUSH_RBP_FRAME
    sub $\bytes, %rsp
    mov %rsp, %rdi
    mov $\bytes, %ecx
    xor %eax, %eax
    rep stosb                          /* the zero-initialised array           */
    movzbl (%rsp), %eax                /* consume(d[:])                        */
    mov %rbp, %rsp
    mov (probe_api + P_NONE)(%rip), %rdi
    push %rdi
    call *(probe_api + P_INCREF)(%rip)
    pop %rax
    pop %rbp
    .cfi_def_cfa %rsp, 8
    ret
ENDFUNC \name
.endm
.include "probe.stacks.inc"          /* asm/shared: the USE_STACK routines, both arches */

/*
 * void *probe_call_and_spill(void *fn, void *obj, uint8_t *out)     [ctypes]
 *
 * Calls fn(obj, NULL, 0, NULL) -- ss_call with obj = a callable, or a plain
 * PyObject_Vectorcall for the control -- and spills the registers the moment
 * it returns, before any other code runs:
 *   out[0..79]  rax rcx rdx rsi rdi r8 r9 r10 r11 rflags (8 bytes each)
 *   out[128..]  XSAVE image (x87, SSE, AVX, opmask, ZMM) — out+128 must be
 *               64-byte aligned and pre-zeroed (XSAVE skips init components)
 * Returns fn's result (a new reference the caller must release).
 */
FUNC probe_call_and_spill
    PUSH_RBP_FRAME
    push %rbx
    .cfi_offset %rbx, -24
    push %r12
    .cfi_offset %r12, -32
    mov %rdx, %rbx                     /* rbx = out                            */
    mov %rdi, %rax
    mov %rsi, %rdi
    xor %esi, %esi
    xor %edx, %edx
    xor %ecx, %ecx
    call *%rax
    mov %rax, 0(%rbx)                  /* spill at once                        */
    mov %rcx, 8(%rbx)
    mov %rdx, 16(%rbx)
    mov %rsi, 24(%rbx)
    mov %rdi, 32(%rbx)
    mov %r8, 40(%rbx)
    mov %r9, 48(%rbx)
    mov %r10, 56(%rbx)
    mov %r11, 64(%rbx)
    pushfq
    popq 72(%rbx)
    mov %rax, %r12
    testq $FEAT_XSAVE, (probe_api + P_FEATURES)(%rip)
    jz 1f
    mov $0xff, %eax                    /* x87..Hi16_ZMM; never PKRU or AMX     */
    xor %edx, %edx
    xsave 128(%rbx)
    jmp 2f
1:  fxsave 128(%rbx)
2:  mov %r12, %rax
    pop %r12
    pop %rbx
    pop %rbp
    .cfi_def_cfa %rsp, 8
    ret
ENDFUNC probe_call_and_spill

/*
 * Primitive timers for the benchmark's breakdown (`python -m secretscope bench`):
 * each repeats one primitive of a scope's erasure n times, so that one ctypes
 * call measures n of them.                                          [ctypes]
 *
 * void probe_loop_syscall(uint64_t n, uint64_t number, a0, a1, a2)
 *      the system call `number` with those three arguments (mincore,
 *      sigaltstack, getrusage, getppid: what a scope's erasure calls, and the
 *      floor)
 * void probe_loop_xrstor(uint64_t n, void *area576_aligned64, uint64_t mask)
 * void probe_loop_zero(uint64_t n, void *buf, uint64_t bytes)
 * void probe_fault_loop(uint64_t n, volatile uint64_t *stop)
 *      n times (or until *stop): map 64 KiB, touch its 16 pages (16 page
 *      faults), unmap it.  Run from another thread (a ctypes.CDLL handle: no
 *      GIL) to make the process fault while scopes run.
 * void probe_loop_read(uint64_t n, void *buf4096_aligned32)      [AVX]
 *      (reads and ORs one page as stack.S's check of a recorded page does)
 * void probe_loop_regzero(uint64_t n, uint64_t avx512)            [AVX]
 *      (XGETBV(1), VZEROALL, and with avx512 VPXORD zmm16-31 and KXORW k0-7:
 *      what regs.S runs when only SSE/AVX/AVX-512 state is in use)
 */
FUNC probe_loop_syscall
    mov %rdi, %r9                      /* r9 = n                               */
    mov %rsi, %r10                     /* r10 = number (no call here takes a 4th
                                          argument, which would live in r10)   */
    mov %rdx, %rdi                     /* a0, a1, a2 stay in rdi, rsi, rdx:    */
    mov %rcx, %rsi                     /* syscall clobbers only rax, rcx, r11  */
    mov %r8, %rdx
1:  test %r9, %r9
    jz 2f
    mov %r10, %rax
    syscall
    dec %r9
    jmp 1b
2:  ret
ENDFUNC probe_loop_syscall

FUNC probe_loop_xrstor
    mov %rdi, %r8
    mov %rsi, %r9
    mov %rdx, %r10
1:  test %r8, %r8
    jz 2f
    mov %r10, %rax
    mov %r10, %rdx
    shr $32, %rdx
    xrstor (%r9)
    dec %r8
    jmp 1b
2:  ret
ENDFUNC probe_loop_xrstor

FUNC probe_loop_zero
    mov %rdi, %r8
    mov %rsi, %r9
    mov %rdx, %r10
1:  test %r8, %r8
    jz 2f
    mov %r9, %rdi
    mov %r10, %rcx
    xor %eax, %eax
    rep stosb
    dec %r8
    jmp 1b
2:  ret
ENDFUNC probe_loop_zero

FUNC probe_fault_loop
    PUSH_RBX_R12
    mov %rdi, %rbx                     /* rbx = iterations left                */
    mov %rsi, %r12                     /* r12 = stop flag                      */
1:  test %rbx, %rbx
    jz 3f
    cmpq $0, (%r12)
    jne 3f
    xor %edi, %edi
    mov $65536, %esi
    mov $3, %edx                       /* PROT_READ | PROT_WRITE               */
    mov $0x22, %r10d                   /* MAP_PRIVATE | MAP_ANONYMOUS          */
    mov $-1, %r8
    xor %r9d, %r9d
    mov $9, %eax                       /* mmap                                 */
    syscall
    cmp $-4095, %rax
    jae 3f
    xor %ecx, %ecx
2:  movb $1, (%rax, %rcx)              /* one fault a page                     */
    add $4096, %ecx
    cmp $65536, %ecx
    jb 2b
    mov %rax, %rdi
    mov $65536, %esi
    mov $11, %eax                      /* munmap                               */
    syscall
    dec %rbx
    jmp 1b
3:
    POP_RBX_R12
    ret
ENDFUNC probe_fault_loop

FUNC probe_loop_read
    mov %rdi, %r8                      /* r8 = n                               */
    mov %rsi, %rdi                     /* rdi = the page                       */
1:  test %r8, %r8
    jz 2f
    PAGE_IS_ZERO                       /* what stack.S runs per recorded page  */
    dec %r8
    jmp 1b
2:  vzeroupper
    ret
ENDFUNC probe_loop_read

FUNC probe_loop_regzero
    mov %rdi, %r8
1:  test %r8, %r8
    jz 3f
    mov $1, %ecx
    xgetbv
    vzeroall
    test %rsi, %rsi
    jz 2f
    ZERO_AVX512_REST                   /* what regs.S runs (sequences.inc)     */
2:  dec %r8
    jmp 1b
3:  ret
ENDFUNC probe_loop_regzero

GNU_PROPERTY_NOTES
