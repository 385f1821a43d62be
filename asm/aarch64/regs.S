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
 *
 * In three named blocks: 1. SME (streaming mode, ZA), 2. the vector
 * registers (SVE, or AdvSIMD without it), 3. FPSR and FPCR.
 */
LOCALFUNC clear_registers
    LDR_GLOBAL x9, ss_features
    /* 1. SME: leave streaming mode; zero ZA and turn it off, unless a lazy
     *    ZA save is pending */
    tbz x9, #FEAT_SME_BIT, .Lclear_vectors
    mrs x10, svcr                       /* bit 0 SM, bit 1 ZA                   */
    cbz x10, .Lclear_vectors
    mrs x11, tpidr2_el0
    cbnz x11, .Lsme_keep_za
    tbz x10, #1, .Lsme_stop             /* ZA on: zero it first.  SMSTOP only makes
                                           it inaccessible; the storage keeps the
                                           rows until the next SMSTART (qemu keeps
                                           them in its memory: core dumps showed it) */
    zero {za}
.Lsme_stop:
    smstop                              /* SM and ZA off                        */
    b .Lclear_vectors
.Lsme_keep_za:
    smstop sm                           /* keep a caller's dormant ZA           */
.Lclear_vectors:
    /* 2. vector registers; none without FP */
    tbz x9, #FEAT_FP_BIT, .Lclear_done
    tbz x9, #FEAT_SVE_BIT, .Lclear_neon
    /* SVE: vector-length agnostic.  Whole z registers, then the predicates;
     * FFR is written from a cleared predicate. */
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    mov z\n\().d, #0
    .endr
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    pfalse p\n\().b
    .endr
    wrffr p0.b
    b .Lclear_callee_saved
.Lclear_neon:
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    movi v\n\().2d, #0
    .endr
.Lclear_callee_saved:
    /* d8-d15: the function restored the caller's low 64 bits; a 64-bit write
     * keeps them and zeroes everything above, up to the SVE vector length. */
    .irp n, 8, 9, 10, 11, 12, 13, 14, 15
    fmov d\n, d\n
    .endr
    /* 3. FPCR back to the caller's, FPSR zero */
    ldr x10, [x0]                       /* the caller's FPCR                    */
    mrs x11, fpcr
    cmp x10, x11
    b.eq .Lclear_fpsr
    msr fpcr, x10                       /* only when changed: writes serialise  */
.Lclear_fpsr:
    msr fpsr, xzr                       /* cumulative flags and QC              */
.Lclear_done:
    ret
ENDFUNC clear_registers

GNU_PROPERTY_NOTES
