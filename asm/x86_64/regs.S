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
 * clear_registers                                        [internal]
 *
 *   in:  rdi = address of 8 bytes in the caller's frame holding the caller's
 *              x87 control word (offset 0, fnstcw) and MXCSR (offset 4,
 *              stmxcsr), saved before the scope's function ran
 *   out: xmm/ymm/zmm0-31, k0-k7, x87 st0-7/mm0-7 zero; x87 status and tag
 *        words in init state; MXCSR status flags (bits 0-5) clear; x87
 *        control word and MXCSR control bits equal to the caller's (the ABI
 *        makes them callee-saved); AMX tile data released if it was in use.
 *   clobbers: rax, rcx, rdx, r8, the 4 bytes at 4(rdi), flags.  Uses no stack
 *        beyond its return address and one of the leaves below (return
 *        addresses only: below the caller's frame, erased by scrub_stack).
 *
 * One of three ways, then the caller's control words:
 *   only x87/SSE/AVX/AVX-512 state in use: instructions, here;
 *   anything else in use, or no XINUSE: clear_by_xrstor;
 *   no XSAVE, or no AVX: clear_sse, then clear_x87.
 */
LOCALFUNC clear_registers
    testq $FEAT_XSAVE, ss_features(%rip)
    jz .Lclear_legacy
    testq $FEAT_XINUSE, ss_features(%rip)
    jz .Lclear_xrstor
    mov $1, %ecx
    xgetbv                        /* edx:eax = XINUSE                           */
    shl $32, %rdx
    or %rdx, %rax
    mov %rax, %r8                 /* r8 = components in use                     */
    and $~(XSTATE_ZEROABLE | XSTATE_PKRU), %rax
    jnz .Lclear_xrstor            /* AMX, APX, ...: the general way             */
    testq $FEAT_AVX, ss_features(%rip)
    jz .Lclear_legacy             /* XSAVE with SSE only: the SSE/x87 way       */
    vzeroall                      /* every bit of xmm/ymm/zmm0-15               */
    testq $FEAT_AVX512, ss_features(%rip)
    jz .Lclear_avx_done
    ZERO_AVX512_REST                   /* zmm16-31, k0-k7 (sequences.inc)      */
.Lclear_avx_done:
    test $1, %r8b                 /* x87 in use?  (init state: ST0-7 zero)      */
    jz .Lclear_control
    call clear_x87
    jmp .Lclear_control
.Lclear_xrstor:
    call clear_by_xrstor
    jmp .Lclear_control
.Lclear_legacy:
    call clear_sse
    call clear_x87
.Lclear_control:
    fldcw (%rdi)                  /* caller's x87 control word                  */
    andl $~0x3f, 4(%rdi)          /* caller's MXCSR without f's status flags    */
    ldmxcsr 4(%rdi)
    ret
ENDFUNC clear_registers

/*
 * clear_by_xrstor                           [internal, leaf; clear_registers]
 *   One XRSTOR of xrstor_init_area (XSTATE_BV = 0): every component of
 *   ss_xrstor_mask in its init state, MXCSR = 0x1f80.  AMX tiles are reset
 *   only when this thread has them in use: asking XRSTOR for XTILEDATA
 *   while XFD still arms it would fault (#NM -> SIGILL for a process
 *   without AMX permission); in use means XFD is disarmed.  Without XINUSE
 *   AMX state is left alone.
 *   clobbers: rax, rcx, rdx, r8, flags; the registers XRSTOR resets.
 */
LOCALFUNC clear_by_xrstor
    mov ss_xrstor_mask(%rip), %rax
    testq $FEAT_AMX, ss_features(%rip)
    jz .Lxrstor_mask_ready
    testq $FEAT_XINUSE, ss_features(%rip)
    jz .Lxrstor_mask_ready        /* cannot tell: leave AMX state alone         */
    mov %rax, %r8
    mov $1, %ecx
    xgetbv                        /* edx:eax = XINUSE                           */
    mov %r8, %rcx                 /* rcx = component mask                       */
    bt $18, %eax                  /* XTILEDATA in use                           */
    jnc .Lxrstor_no_tiles
    bts $17, %rcx                 /* add XTILECFG and XTILEDATA                 */
    bts $18, %rcx
.Lxrstor_no_tiles:
    mov %rcx, %rax
.Lxrstor_mask_ready:
    mov %rax, %rdx
    shr $32, %rdx                 /* edx:eax = requested-feature bitmap        */
    xrstor xrstor_init_area(%rip)
    ret
ENDFUNC clear_by_xrstor

/*
 * clear_sse                                 [internal, leaf; clear_registers]
 *   No XSAVE (very old CPU or hypervisor hiding it), or no AVX: xmm0-15 zero.
 *   clobbers: xmm0-15.
 */
LOCALFUNC clear_sse
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    pxor %xmm\r, %xmm\r
    .endr
    ret
ENDFUNC clear_sse

/*
 * clear_x87                                 [internal, leaf; clear_registers]
 *   st0-7/mm0-7 zero, tag and status words in init state.  fninit alone
 *   only empties the tags (the data registers still hold data), so all
 *   eight physical registers are overwritten with fldz first.
 *   clobbers: x87 state (the control word is the default: the caller
 *   restores its own).
 */
LOCALFUNC clear_x87
    fninit                        /* empty tags; data registers still hold data */
    .rept 8
    fldz                          /* overwrite all eight physical registers     */
    .endr
    fninit                        /* and mark them empty again                  */
    ret
ENDFUNC clear_x87

GNU_PROPERTY_NOTES
