/*
 * regs.S — erase the register state a scope's function may have left.
 *
 * What exists was decided at load by ss_init from the auxiliary vector, so
 * SVE and SME instructions are only executed when the kernel manages their
 * state.  They are assembled through .arch_extension, the object runs on
 * any ARMv8.0 CPU.  The general-purpose registers are cleared by the
 * trampolines themselves, last, because they keep using them until they
 * return.
 *
 * Architectural facts relied on (Arm ARM, the V[] and Z[] accessors):
 *  - a write to a SIMD&FP register Vn (any width) zero-extends the value to
 *    the maximum vector length: bits [VL-1:128] of Zn become 0, and a
 *    64-bit write (fmov dN, dN) also clears bits [127:64];
 *  - leaving streaming mode (SMSTOP SM) sets Z0-Z31, P0-P15 and FFR to zero
 *    and FPSR to 0x0800009f; turning ZA off (SMSTOP ZA) makes ZA and ZT0
 *    inaccessible but does not wipe the storage, so ZA is zeroed first.
 */
.include "common.inc"
.include "macros.inc"

    .text
    .arch_extension sve
    .arch_extension sme

/*
 * clear_registers                                        [internal, leaf]
 *
 *   in:  x0 = address of 8 bytes in the caller's frame holding the caller's
 *              FPCR, saved (mrs fpcr) before the scope's function ran
 *   out: v0-v7 and v16-v31 zero at full width; v8-v15 keep their low 64
 *        bits (callee-saved: the caller's values), bits 64 and up zero;
 *        with SVE: z0-z31 as just said for any vector length, p0-p15 and
 *        FFR zero; with SME: streaming mode off, ZA (and ZT0) off unless a
 *        lazy ZA save is pending (TPIDR2_EL0 != 0: ZA is then the dormant
 *        state of a caller, not of the function); FPSR zero (cumulative
 *        exception flags IOC DZC OFC UFC IXC IDC and QC cleared); FPCR equal
 *        to the caller's (the ABI makes its control bits callee-saved).
 *        NZCV is left to the caller (the trampolines zero it last).
 *   clobbers: x9-x11, flags.  Uses no stack.
 */
LOCALFUNC clear_registers
    LDR_GLOBAL x9, ss_features
    tbz x9, #FEAT_SME_BIT, 1f
    mrs x10, svcr                       /* bit 0 SM, bit 1 ZA                   */
    cbz x10, 1f
    mrs x11, tpidr2_el0
    cbnz x11, 2f
    tbz x10, #1, 3f                     /* ZA on: zero it first.  SMSTOP only makes
                                           it inaccessible; the storage keeps the
                                           rows until the next SMSTART (qemu keeps
                                           them in its memory: core dumps showed it) */
    zero {za}
3:  smstop                              /* SM and ZA off                        */
    b 1f
2:  smstop sm                           /* keep a caller's dormant ZA           */
1:  tbz x9, #FEAT_FP_BIT, .Ldone
    tbz x9, #FEAT_SVE_BIT, .Lneon
    /* SVE: vector-length agnostic.  Whole z registers, then the predicates;
     * FFR is written from a cleared predicate. */
    mov z0.d, #0
    mov z1.d, #0
    mov z2.d, #0
    mov z3.d, #0
    mov z4.d, #0
    mov z5.d, #0
    mov z6.d, #0
    mov z7.d, #0
    mov z16.d, #0
    mov z17.d, #0
    mov z18.d, #0
    mov z19.d, #0
    mov z20.d, #0
    mov z21.d, #0
    mov z22.d, #0
    mov z23.d, #0
    mov z24.d, #0
    mov z25.d, #0
    mov z26.d, #0
    mov z27.d, #0
    mov z28.d, #0
    mov z29.d, #0
    mov z30.d, #0
    mov z31.d, #0
    pfalse p0.b
    pfalse p1.b
    pfalse p2.b
    pfalse p3.b
    pfalse p4.b
    pfalse p5.b
    pfalse p6.b
    pfalse p7.b
    pfalse p8.b
    pfalse p9.b
    pfalse p10.b
    pfalse p11.b
    pfalse p12.b
    pfalse p13.b
    pfalse p14.b
    pfalse p15.b
    wrffr p0.b
    b .Lcallee_saved
.Lneon:
    movi v0.2d, #0
    movi v1.2d, #0
    movi v2.2d, #0
    movi v3.2d, #0
    movi v4.2d, #0
    movi v5.2d, #0
    movi v6.2d, #0
    movi v7.2d, #0
    movi v16.2d, #0
    movi v17.2d, #0
    movi v18.2d, #0
    movi v19.2d, #0
    movi v20.2d, #0
    movi v21.2d, #0
    movi v22.2d, #0
    movi v23.2d, #0
    movi v24.2d, #0
    movi v25.2d, #0
    movi v26.2d, #0
    movi v27.2d, #0
    movi v28.2d, #0
    movi v29.2d, #0
    movi v30.2d, #0
    movi v31.2d, #0
.Lcallee_saved:
    /* d8-d15: the function restored the caller's low 64 bits; a 64-bit write
     * keeps them and zeroes everything above, up to the SVE vector length. */
    fmov d8, d8
    fmov d9, d9
    fmov d10, d10
    fmov d11, d11
    fmov d12, d12
    fmov d13, d13
    fmov d14, d14
    fmov d15, d15
    ldr x10, [x0]                       /* the caller's FPCR                    */
    mrs x11, fpcr
    cmp x10, x11
    b.eq 3f
    msr fpcr, x10                       /* only when changed: writes serialise  */
3:  msr fpsr, xzr                       /* cumulative flags and QC              */
.Ldone:
    ret
ENDFUNC clear_registers

GNU_PROPERTY_NOTES
