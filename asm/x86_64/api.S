/*
 * api.S — the table the Python side fills at load time, the backend's
 * identity, and CPU/OS feature detection.
 */
.include "common.inc"
.include "macros.inc"

.include "api.data.inc"          /* asm/shared: the data, both arches (ends in .bss) */
    ZEROED_OBJECT ss_xcr0, 8
/* XSAVE components that clear_registers resets with XRSTOR (see regs.S). */
    HIDDEN_ZEROED_OBJECT ss_xrstor_mask, 8

    .text
/*
 * uint64_t ss_init(uint64_t hwcap, uint64_t hwcap2, uint64_t page_size)
 *                                                          [ctypes, once]
 * Detects what register state exists, with CPUID *and* XGETBV: a CPU feature
 * counts only when the OS has enabled its state in XCR0.  The arguments (the
 * auxiliary vector's hwcaps and the page size) serve AArch64; x86-64 ignores
 * them: its pages are always 4 KiB and CPUID is authoritative.
 *   out: rax = FEAT_* bits; also stores ss_features, ss_xcr0, ss_xrstor_mask.
 *   clobbers: rax, rcx, rdx, r8, r9, r10, r11 (rbx is saved: CPUID writes it).
 */
FUNC ss_init
    push %rbx                      /* CPUID clobbers rbx, which is callee-saved */
    .cfi_def_cfa_offset 16
    .cfi_offset %rbx, -16
    xor %r8d, %r8d                 /* r8 = FEAT_* result                        */
    xor %r9d, %r9d                 /* r9 = XCR0                                 */
    xor %r10d, %r10d               /* r10 = XRSTOR component mask               */

    mov $1, %eax
    xor %ecx, %ecx
    cpuid
    bt $27, %ecx                   /* OSXSAVE: OS set CR4.OSXSAVE, XGETBV legal */
    jnc 1f
    or $FEAT_XSAVE, %r8
    xor %ecx, %ecx
    xgetbv                         /* edx:eax = XCR0                            */
    shl $32, %rdx
    or %rax, %rdx
    mov %rdx, %r9

    /* x87, SSE, AVX, MPX bounds, opmask, ZMM_Hi256, Hi16_ZMM: bits 0-7.
     * PKRU (bit 9) is deliberately absent: it is protection state, not data. */
    mov %r9, %r10
    and $0xff, %r10

    mov %r9, %rax
    and $0x6, %eax
    cmp $0x6, %eax                 /* SSE and AVX state enabled                 */
    jne 2f
    or $FEAT_AVX, %r8
2:  mov %r9, %rax
    and $0xe0, %eax
    cmp $0xe0, %eax                /* opmask, ZMM_Hi256, Hi16_ZMM all enabled   */
    jne 3f
    or $FEAT_AVX512, %r8
3:  mov $7, %eax
    xor %ecx, %ecx
    cpuid
    bt $24, %edx                   /* AMX-TILE                                  */
    jnc 4f
    mov %r9, %rax
    shr $17, %rax
    and $3, %eax
    cmp $3, %eax                   /* XTILECFG and XTILEDATA enabled in XCR0    */
    jne 4f
    or $FEAT_AMX, %r8
4:  mov $0xd, %eax
    mov $1, %ecx
    cpuid
    bt $2, %eax                    /* XGETBV with ECX=1 returns XINUSE          */
    jnc 5f
    or $FEAT_XINUSE, %r8
5:  /* Checking pages before zeroing them (stack.S) loads their contents into
     * ymm registers; a signal then saves those in a frame that stack.S erases
     * within SIGFRAME_ZONE below it, which must exceed the largest frame. */
    testq $FEAT_AVX, %r8
    jz 1f
    mov $0xd, %eax
    xor %ecx, %ecx
    cpuid                          /* ebx = XSAVE area size for XCR0's features */
    cmp $SIGFRAME_XSAVE_MAX, %ebx
    ja 1f
    or $FEAT_ZEROCHECK, %r8
1:
    mov %r8, ss_features(%rip)
    mov %r9, ss_xcr0(%rip)
    mov %r10, ss_xrstor_mask(%rip)
    mov %r8, %rax
    pop %rbx
    .cfi_def_cfa_offset 8
    ret
ENDFUNC ss_init

GNU_PROPERTY_NOTES
