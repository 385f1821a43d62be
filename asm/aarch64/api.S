/*
 * api.S — the table the Python side fills at load time, the backend's
 * identity, and CPU/OS feature detection.
 */
.include "common.inc"
.include "macros.inc"

.include "api.data.inc"          /* asm/shared: the data, both arches (ends in .bss) */
/* ss_xcr0 keeps the x86-64 name so that both objects export the same symbols.
 * On AArch64 it holds the vector lengths found at load, in bytes:
 *   bits 0-31  the SVE vector length of the loading thread (RDVL), 0 without SVE
 *   bits 32-63 the SME streaming vector length (RDSVL), 0 without SME
 * Informational only: the erasure is vector-length agnostic (a thread may
 * change its length with prctl(PR_SVE_SET_VL) at any time). */
    ZEROED_OBJECT ss_xcr0, 8
/* The kernel's page size (ss_init's third argument) and its log2. */
    HIDDEN_ZEROED_OBJECT ss_page_size, 8
    HIDDEN_ZEROED_OBJECT ss_page_shift, 8
/* DC ZVA block size in bytes, or 0 when DC ZVA is prohibited (DCZID_EL0.DZP)
 * or its block is not a divisor of the page size: stack.S then zeroes with stp. */
    HIDDEN_ZEROED_OBJECT ss_zva_size, 8

    .text
    .arch_extension sve
    .arch_extension sme
/*
 * uint64_t ss_init(uint64_t hwcap, uint64_t hwcap2, uint64_t page_size)
 *                                                          [ctypes, once]
 * What register state exists comes from the auxiliary vector (the kernel
 * reports SVE/SME only when it manages their state), not from ID registers.
 *   in:  x0 = AT_HWCAP, x1 = AT_HWCAP2, x2 = page size (sysconf(_SC_PAGESIZE));
 *        a page size that is not a power of two in [4 KiB, 64 KiB] counts as 4 KiB
 *   out: x0 = FEAT_* bits; also stores ss_features, ss_xcr0 (vector lengths),
 *        ss_page_size, ss_page_shift, ss_zva_size.
 *   clobbers: x0-x2, x9-x13, flags.  Leaf, uses no stack.
 */
FUNC ss_init
    mov x9, #0                          /* x9 = FEAT_* result                    */
    tbz x0, #HWCAP_FP_BIT, 1f
    tbz x0, #HWCAP_ASIMD_BIT, 1f
    orr x9, x9, #FEAT_FP
1:  tbz x0, #HWCAP_SVE_BIT, 2f
    orr x9, x9, #FEAT_SVE
2:  tbz x1, #HWCAP2_SME_BIT, 3f
    orr x9, x9, #FEAT_SME
3:
    /* page size: a power of two in [MIN_PAGE_SIZE, MAX_PAGE_SIZE] */
    sub x10, x2, #1
    tst x2, x10
    b.ne 4f                             /* not a power of two (or zero)          */
    cmp x2, #MIN_PAGE_SIZE
    b.lo 4f
    cmp x2, #MAX_PAGE_SIZE
    b.ls 5f
4:  mov x2, #MIN_PAGE_SIZE
5:  clz x10, x2
    mov x11, #63
    sub x10, x11, x10                   /* x10 = log2(page size)                 */
    adrp x11, ss_page_size
    str x2, [x11, #:lo12:ss_page_size]
    adrp x11, ss_page_shift
    str x10, [x11, #:lo12:ss_page_shift]

    /* DC ZVA: permitted when DCZID_EL0.DZP = 0; block = 4 << BS bytes */
    mrs x10, dczid_el0
    mov x11, #0
    tbnz x10, #4, 6f
    and x10, x10, #15
    mov x11, #4
    lsl x11, x11, x10                   /* x11 = block size                      */
    cmp x11, #16
    b.lo 7f
    cmp x11, x2                         /* must divide the page: <= page (both   */
    b.ls 6f                             /* are powers of two)                    */
7:  mov x11, #0
6:  adrp x10, ss_zva_size
    str x11, [x10, #:lo12:ss_zva_size]

    /* vector lengths, for information (ss_xcr0) */
    mov x12, #0
    tbz x9, #FEAT_SVE_BIT, 8f
    rdvl x12, #1                        /* SVE vector length in bytes            */
8:  tbz x9, #FEAT_SME_BIT, 9f
    rdsvl x13, #1                       /* SME streaming vector length in bytes  */
    orr x12, x12, x13, lsl #32
9:  adrp x10, ss_xcr0
    str x12, [x10, #:lo12:ss_xcr0]
    adrp x10, ss_features
    str x9, [x10, #:lo12:ss_features]
    mov x0, x9
    ret
ENDFUNC ss_init

GNU_PROPERTY_NOTES
