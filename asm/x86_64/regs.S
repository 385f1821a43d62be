/*
 * regs.S — erase the register state a scope's function may have left.
 *
 * Two ways, chosen per call from XINUSE (XGETBV with ECX=1: which XSAVE
 * components are not in their init state, ~13 ns):
 *  - only x87, SSE, AVX and AVX-512 state in use (nearly always): zero those
 *    registers with instructions (VZEROALL, VPXORD, KXORW; x87 only when in
 *    use, ~50 ns), ~20 ns in all;
 *  - anything else in use (AMX tiles, or a component this file predates), or
 *    no XINUSE: one XRSTOR whose XSTATE_BV header is all zero, which puts every
 *    requested component in its architectural init state (~110 ns).
 * Which components exist was decided at load by ss_init from CPUID and XCR0,
 * so this never names state the OS has not enabled.  The general-purpose
 * registers are cleared by the trampolines themselves, last, because they
 * keep using them until they return.
 */
.include "common.inc"
.include "sequences.inc"

    .section .rodata
    .p2align 6
/* A 576-byte XSAVE area (legacy region + header) in standard form.
 * XSTATE_BV = 0 requests init state for every component in the mask; only
 * MXCSR is loaded from here (0x1F80: all exceptions masked, flags clear),
 * and the caller's control bits are put back afterwards. */
xrstor_init_area:
    .zero 24
    .long 0x1f80                 /* MXCSR                                     */
    .long 0                      /* MXCSR_MASK (ignored by XRSTOR)            */
    .zero 512 - 32
    .zero 64                     /* header: XSTATE_BV = XCOMP_BV = 0          */
    .size xrstor_init_area, . - xrstor_init_area

    .text
/*
 * clear_registers                                        [internal, leaf]
 *
 *   in:  rdi = address of 8 bytes in the caller's frame holding the caller's
 *              x87 control word (offset 0, fnstcw) and MXCSR (offset 4,
 *              stmxcsr), saved before the scope's function ran
 *   out: xmm/ymm/zmm0-31, k0-k7, x87 st0-7/mm0-7 zero; x87 status and tag
 *        words in init state; MXCSR status flags (bits 0-5) clear; x87
 *        control word and MXCSR control bits equal to the caller's (the ABI
 *        makes them callee-saved); AMX tile data released if it was in use.
 *   clobbers: rax, rcx, rdx, r8, the 4 bytes at 4(rdi), flags.  Uses no stack
 *        beyond its return address.
 */
LOCALFUNC clear_registers
    testq $FEAT_XSAVE, ss_features(%rip)
    jz .Lno_xsave
    testq $FEAT_XINUSE, ss_features(%rip)
    jz .Lxrstor
    mov $1, %ecx
    xgetbv                        /* edx:eax = XINUSE                           */
    shl $32, %rdx
    or %rdx, %rax
    mov %rax, %r8                 /* r8 = components in use                     */
    and $~(XSTATE_ZEROABLE | XSTATE_PKRU), %rax
    jnz .Lxrstor                  /* AMX, APX, ...: the general way             */
    testq $FEAT_AVX, ss_features(%rip)
    jz .Lno_xsave                 /* XSAVE with SSE only: the SSE/x87 way       */
    vzeroall                      /* every bit of xmm/ymm/zmm0-15               */
    testq $FEAT_AVX512, ss_features(%rip)
    jz 3f
    ZERO_AVX512_REST                   /* zmm16-31, k0-k7 (sequences.inc)      */
3:  test $1, %r8b                 /* x87 in use?  (init state: ST0-7 zero)      */
    jz .Lcontrol
    jmp .Lx87
.Lxrstor:
    mov ss_xrstor_mask(%rip), %rax
    testq $FEAT_AMX, ss_features(%rip)
    jz 1f
    /* AMX: reset tiles only when this thread has them in use.  Asking XRSTOR
     * for XTILEDATA while XFD still arms it would fault (#NM -> SIGILL for a
     * process without AMX permission); in use means XFD is disarmed. */
    testq $FEAT_XINUSE, ss_features(%rip)
    jz 1f                         /* cannot tell: leave AMX state alone         */
    mov %rax, %r8
    mov $1, %ecx
    xgetbv                        /* edx:eax = XINUSE                           */
    mov %r8, %rcx                 /* rcx = component mask                       */
    bt $18, %eax                  /* XTILEDATA in use                           */
    jnc 2f
    bts $17, %rcx                 /* add XTILECFG and XTILEDATA                 */
    bts $18, %rcx
2:  mov %rcx, %rax
1:  mov %rax, %rdx
    shr $32, %rdx                 /* edx:eax = requested-feature bitmap        */
    xrstor xrstor_init_area(%rip)
    jmp .Lcontrol

.Lno_xsave:
    /* No XSAVE (very old CPU or hypervisor hiding it): SSE and x87 only. */
    pxor %xmm0, %xmm0
    pxor %xmm1, %xmm1
    pxor %xmm2, %xmm2
    pxor %xmm3, %xmm3
    pxor %xmm4, %xmm4
    pxor %xmm5, %xmm5
    pxor %xmm6, %xmm6
    pxor %xmm7, %xmm7
    pxor %xmm8, %xmm8
    pxor %xmm9, %xmm9
    pxor %xmm10, %xmm10
    pxor %xmm11, %xmm11
    pxor %xmm12, %xmm12
    pxor %xmm13, %xmm13
    pxor %xmm14, %xmm14
    pxor %xmm15, %xmm15
.Lx87:
    fninit                        /* empty tags; data registers still hold data */
    fldz                          /* so overwrite all eight physical registers  */
    fldz
    fldz
    fldz
    fldz
    fldz
    fldz
    fldz
    fninit                        /* and mark them empty again                  */

.Lcontrol:
    fldcw (%rdi)                  /* caller's x87 control word                  */
    andl $~0x3f, 4(%rdi)          /* caller's MXCSR without f's status flags    */
    ldmxcsr 4(%rdi)
    ret
ENDFUNC clear_registers

GNU_PROPERTY_NOTES
