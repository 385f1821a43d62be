/*
 * probe.S — diagnostic helpers that plant a sentinel in the stack and in the
 * registers, and look for it afterwards.  Built into its own object
 * (libsecretscope_probe_aarch64.so), separate from the protecting code, and
 * used by `python -m secretscope` (live self-test) and by the test suite.
 * Nothing here takes part in protection.
 */

.equ FEAT_FP_BIT, 0                 /* ss_features bits (asm/aarch64/common.inc) */
.equ FEAT_SVE_BIT, 1
.equ FEAT_SME_BIT, 2
.equ STACK_SKIP, 512                /* writes start this far below the entry sp, out of
                                       reach of the frames that later call the scanner */

/* probe_call_and_spill's output buffer (secretscope/_probe.py parses it).
 * Vector lengths are at most 256 bytes (SVE/SME maximum, 2048 bits). */
.equ OUT_X, 0                       /* x0-x18, 8 bytes each                       */
.equ OUT_NZCV, 160
.equ OUT_FPSR, 168
.equ OUT_FPCR, 176
.equ OUT_VL, 184                    /* SVE vector length in bytes, 0 without SVE  */
.equ OUT_SVCR, 192                  /* SVCR (bit 0 SM, bit 1 ZA), 0 without SME   */
.equ OUT_SVL, 200                   /* SME streaming vector length, 0 without SME */
.equ OUT_Q, 256                     /* q0-q31, 16 bytes each                      */
.equ OUT_Z, 768                     /* z0-z31, VL bytes each (<= 8192)            */
.equ OUT_P, 8960                    /* p0-p15 then FFR, VL/8 bytes each (<= 544)  */
.equ OUT_ZA, 9728                   /* ZA rows 0-15 when ZA is on, SVL bytes each */
.equ OUT_SIZE, 13824
.equ FPCR_FZ, (1 << 24)               /* flush-to-zero                              */
.equ FFR_MARK_ELEMENTS, 7           /* FFR only takes monotonic values (WRFFR):
                                       the first 7 byte elements true, byte 0 = 0x7f */

/* The mask: sentinels cross the C/Python boundary masked, so ctypes' own
 * argument copies never match.  0xa5a5a5a5a5a5a5a5, built without a literal. */
.macro MASK reg
    movz \reg, #0xa5a5
    movk \reg, #0xa5a5, lsl #16
    movk \reg, #0xa5a5, lsl #32
    movk \reg, #0xa5a5, lsl #48
.endm

.include "../base.inc"
.include "../macros.inc"

.include "probe.data.inc"          /* asm/shared: the data, both arches */

.equ SYS_getpid, 172
.equ SYS_gettid, 178
.equ SYS_tgkill, 131

    .bss
    .p2align 3
/* The thread pointer of the thread inside probe_call_and_spill, 0 if none:
 * probe_regs_fill changes FPCR only there, where it is put back afterwards
 * (a direct call, as the signal tests make, must not leave FZ set in the
 * process's floating-point environment). */
fpcr_armed_tp:
    .zero 8

    .section .rodata
msg_fill_raise:
    .asciz "probe_regs_fill_raise: registers filled, now failing"

    .text
    .arch_extension sve
    .arch_extension sme
/*
 * void probe_stack_write(uint64_t depth, uint64_t stride, uint64_t masked,
 *                        uint64_t out[2])                          [ctypes]
 *
 * The sentinel is masked ^ MASK.
 * Moves the stack pointer `depth` bytes down and writes 64-byte blocks of
 * the sentinel at depths STACK_SKIP, STACK_SKIP + stride, ... (< depth) and
 * at the very bottom; pages between the blocks are never touched (stride >
 * page size leaves gaps).  Leaves them behind when it returns.
 *   out[0] = lowest address written, out[1] = one past the highest.
 *   clobbers: x0-x3, x8-x11, flags.
 */
FUNC probe_stack_write
    PROLOGUE 16
    MASK x9
    eor x2, x2, x9                      /* x2 = sentinel                        */
    mov x8, sp
    and x8, x8, #~63                    /* x8 = top, 64-byte aligned            */
    sub x9, x8, x0                      /* x9 = bottom block address            */
    and x10, x9, #~15
    sub sp, x10, #128                   /* blocks are above sp: nothing clobbers them */
    str x9, [x3]
    sub x10, x8, #STACK_SKIP
    str x10, [x3, #8]
    mov x10, #STACK_SKIP                /* x10 = depth of the current block end */
1:  cmp x10, x0
    b.hs 3f
    sub x11, x8, x10
    sub x11, x11, #64                   /* block = [top - d - 64, top - d)      */
    cmp x11, x9
    b.lo 3f
    stp x2, x2, [x11]
    stp x2, x2, [x11, #16]
    stp x2, x2, [x11, #32]
    stp x2, x2, [x11, #48]
    add x10, x10, x1
    b 1b
3:  stp x2, x2, [x9]                    /* the bottom block                     */
    stp x2, x2, [x9, #16]
    stp x2, x2, [x9, #32]
    stp x2, x2, [x9, #48]
    mov x2, #0
    RETURN 16
ENDFUNC probe_stack_write

/*
 * uint64_t probe_stack_pointer(void)                                [ctypes]
 *   out: x0 = the caller's stack pointer (bl pushes nothing).
 */
FUNC probe_stack_pointer
    mov x0, sp
    ret
ENDFUNC probe_stack_pointer

/*
 * uint64_t probe_stack_scan(uint64_t low, uint64_t high, uint64_t masked)
 *                                                                  [ctypes]
 * Counts 8-byte aligned words equal to the sentinel (masked ^ MASK) in
 * [low, high).  Leaf: the sentinel exists only in a register here.
 */
FUNC probe_stack_scan
    MASK x9
    eor x2, x2, x9
    and x9, x0, #~7
    mov x0, #0
1:  cmp x9, x1
    b.hs 2f
    ldr x10, [x9], #8
    cmp x10, x2
    cinc x0, x0, eq
    b 1b
2:  mov x2, #0
    ret
ENDFUNC probe_stack_scan

/*
 * uint64_t probe_mem_scan(uint64_t low, uint64_t high, uint64_t masked)
 *                                                                  [ctypes]
 * Counts occurrences of the 8-byte sentinel (masked ^ MASK) at ANY byte
 * offset in [low, high) (heap objects need not align their data).  Leaf.
 * Aligned words are screened for the sentinel's first byte (SWAR zero-byte
 * test) and only those are compared at each offset: an aligned 8-byte load
 * never crosses a page, so nothing outside [low & ~7, high) is touched.
 */
FUNC probe_mem_scan
    MASK x9
    eor x2, x2, x9                      /* x2 = sentinel                        */
    mov x3, x0                          /* x3 = low                             */
    mov x0, #0                          /* x0 = count                           */
    add x4, x3, #8
    cmp x1, x4
    b.lo 9f                             /* fewer than 8 bytes                   */
    sub x4, x1, #7                      /* x4 = one past the last start         */
    and x5, x2, #0xff
    mov x6, #0x0101010101010101
    mul x5, x5, x6                      /* x5 = first byte, in every lane       */
    mov x7, #0x8080808080808080
    and x8, x3, #~7                     /* x8 = aligned word                    */
1:  cmp x8, x4
    b.hs 9f
    ldr x9, [x8]
    eor x9, x9, x5                      /* a zero byte where the first byte is  */
    sub x10, x9, x6
    bic x10, x10, x9
    tst x10, x7
    b.eq 3f
    cmp x8, x3                          /* candidates: [max(word, low),         */
    csel x11, x3, x8, lo
    add x12, x8, #8                     /*              min(word + 8, end))     */
    cmp x12, x4
    csel x12, x4, x12, hi
2:  cmp x11, x12
    b.hs 3f
    ldr x13, [x11]
    cmp x13, x2
    cinc x0, x0, eq
    add x11, x11, #1
    b 2b
3:  add x8, x8, #8
    b 1b
9:  mov x2, #0
    ret
ENDFUNC probe_mem_scan

/*
 * PyObject *probe_regs_fill(PyObject *self, PyObject *unused)   [METH_NOARGS]
 *
 * Returns None with the sentinel in x1-x18, in both 64-bit halves of v0-v7
 * and v16-v31 and in the upper half of v8-v15 (their low halves are
 * callee-saved: the caller's values stay); with SVE in every 64-bit lane of
 * z0-z31 (z8-z15: all but lane 0) and in p0-p15 (as many of its bytes as a
 * predicate holds); FFR set to a monotonic marker (the first 7 byte elements
 * true: WRFFR's result is unpredictable for other values); with SME, ZA
 * turned on with the sentinel in rows 0-15 (ZA array vectors).  All FPSR
 * cumulative flags (IOC DZC OFC UFC IXC IDC, QC) are set, FPCR.FZ is set
 * when called under probe_call_and_spill (which puts the caller's FPCR
 * back), and NZCV = 0b1111.
 */
FUNC probe_regs_fill
    mov x9, #0                          /* mode 0: return None                  */
.Lfill_common:
    ENTER 32, x19, x20
    mov x20, x9                         /* x20 = mode: 0 return, 1 raise, 2 signal */
    sub sp, sp, #256                    /* a buffer for predicate and ZA loads  */
    cmp x20, #1
    b.eq 5f
    LDR_GLOBAL x19, probe_api, P_NONE
    mov x0, x19
    LDR_GLOBAL x16, probe_api, P_INCREF
    blr x16                             /* before the registers are filled      */
    b 6f
5:  LDR_GLOBAL x0, probe_api, P_EXC_VALUE
    adrp x1, msg_fill_raise
    add x1, x1, #:lo12:msg_fill_raise
    LDR_GLOBAL x16, probe_api, P_ERR_SET_STRING
    blr x16
    mov x19, #0                         /* result: NULL, exception set          */
6:
    MASK x9
    LDR_GLOBAL x10, probe_api, P_SENTINEL
    eor x9, x9, x10                     /* x9 = sentinel (the table holds it masked) */
    LDR_GLOBAL x10, probe_api, P_FEATURES
    mov x11, sp                         /* the buffer: 256 bytes of sentinel    */
    add x12, sp, #256
7:  stp x9, x9, [x11], #16
    cmp x11, x12
    b.lo 7b
.Lfill_vectors:
    tbz x10, #FEAT_FP_BIT, .Lfill_signal
    tbz x10, #FEAT_SVE_BIT, .Lfill_neon
    /* SVE */
    ptrue p0.d, vl1                     /* lane 0 of z8-z15 keeps the caller's d8-d15 */
    .irp n, 8, 9, 10, 11, 12, 13, 14, 15
    fmov x11, d\n
    dup z\n\().d, x9
    mov z\n\().d, p0/m, x11
    .endr
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    dup z\n\().d, x9
    .endr
    ptrue p0.b, vl7
    wrffr p0.b                          /* FFR marker                           */
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    ldr p\n, [sp]                       /* VL/8 bytes of the sentinel           */
    .endr
    b .Lfill_za
.Lfill_neon:
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    dup v\n\().2d, x9
    .endr
    .irp n, 8, 9, 10, 11, 12, 13, 14, 15
    mov v\n\().d[1], x9                 /* upper half only                      */
    .endr
.Lfill_za:
    tbz x10, #FEAT_SME_BIT, .Lfill_fpsr
    smstart za                          /* ZA on (zeroed), not streaming mode   */
    mov w12, #0
8:  ldr za[w12, 0], [sp]                /* one row: SVL bytes (<= 256)          */
    add w12, w12, #1
    cmp w12, #16
    b.lo 8b
.Lfill_fpsr:
    mov x11, #0x9f
    movk x11, #0x0800, lsl #16
    msr fpsr, x11                       /* QC | IDC | IXC UFC OFC DZC IOC       */
    mrs x11, tpidr_el0
    LDR_GLOBAL x12, fpcr_armed_tp
    cmp x11, x12
    b.ne .Lfill_signal                  /* not under probe_call_and_spill       */
    mrs x11, fpcr
    orr x11, x11, #FPCR_FZ
    msr fpcr, x11                       /* a control bit the caller did not set */
.Lfill_signal:
    cmp x20, #2
    b.lo .Lfill_gprs
    b.hi 2f
    /* signal mode: with the vector registers full, make the kernel save them
     * into a signal frame (tgkill to this thread; svc keeps all but x0) ... */
    mov x8, #SYS_getpid
    svc #0
    mov x11, x0
    mov x8, #SYS_gettid
    svc #0
    mov x1, x0
    mov x0, x11
    LDR_GLOBAL x2, probe_api, P_SIGNO
    mov x8, #SYS_tgkill
    svc #0
    /* ... then fill them again (a syscall discards the SVE state beyond the v
     * registers) and spin with them full, so that timer signals land too */
    mov x20, #3
    b .Lfill_vectors
2:  LDR_GLOBAL x11, probe_api, P_SPIN
3:  cbz x11, .Lfill_gprs
    sub x11, x11, #1
    b 3b
.Lfill_gprs:
    mov x11, sp                         /* wipe the buffer                      */
    add x12, sp, #256
7:  stp xzr, xzr, [x11], #16
    cmp x11, x12
    b.lo 7b
    mov x0, x19                         /* result: None, or NULL                */
    ldp x19, x20, [x29, #16]
    .cfi_restore x19
    .cfi_restore x20
    mov x1, x9
    mov x2, x9
    mov x3, x9
    mov x4, x9
    mov x5, x9
    mov x6, x9
    mov x7, x9
    mov x8, x9
    mov x10, x9
    mov x11, x9
    mov x12, x9
    mov x13, x9
    mov x14, x9
    mov x15, x9
    mov x16, x9
    mov x17, x9
    mov x18, x9
    mov x9, #0xf0000000
    msr nzcv, x9                        /* N Z C V all set; nothing below sets flags */
    mov x9, x1
    RETURN 32
ENDFUNC probe_regs_fill

/*
 * PyObject *probe_regs_fill_signal(PyObject *self, PyObject *unused)
 *                                                             [METH_NOARGS]
 * As probe_regs_fill, then, with every vector register full of the
 * sentinel, raises signal probe_api[P_SIGNO] on this thread (raw tgkill),
 * fills the vector registers again and spins probe_api[P_SPIN] iterations:
 * the kernel's signal frames hold the sentinel.
 */
FUNC probe_regs_fill_signal
    mov x9, #2
    b .Lfill_common
ENDFUNC probe_regs_fill_signal

/*
 * PyObject *probe_regs_fill_raise(PyObject *self, PyObject *unused)
 *                                                             [METH_NOARGS]
 * As probe_regs_fill, but sets ValueError and returns NULL: the registers
 * hold the sentinel while the exception travels out of the scope.
 */
FUNC probe_regs_fill_raise
    mov x9, #1
    b .Lfill_common
ENDFUNC probe_regs_fill_raise

/*
 * PyObject *probe_use_stack_<N>(PyObject *self, PyObject *unused)  [METH_NOARGS]
 *
 * The seed benchmark's shape (Go: `var d [N]byte; consume(d[:])`): zero N
 * bytes of fresh stack, read one back, return None.  N = 1 KiB ... 1 MiB.
 */
.macro USE_STACK name, bytes
FUNC \name
    PROLOGUE 16
    sub sp, sp, #\bytes
    mov x9, sp
    add x10, x29, #0
1:  stp xzr, xzr, [x9], #16             /* the zero-initialised array           */
    cmp x9, x10
    b.lo 1b
    ldrb w9, [sp]                       /* consume(d[:])                        */
    mov sp, x29
    LDR_GLOBAL x0, probe_api, P_NONE
    LDR_GLOBAL x16, probe_api, P_INCREF
    blr x16
    LDR_GLOBAL x0, probe_api, P_NONE
    RETURN 16
ENDFUNC \name
.endm
.include "probe.stacks.inc"          /* asm/shared: the USE_STACK routines, both arches */

/*
 * void *probe_call_and_spill(void *fn, void *obj, uint8_t *out)     [ctypes]
 *
 * Calls fn(obj, NULL, 0, NULL) -- ss_call with obj = a callable, or a plain
 * PyObject_Vectorcall for the control -- and spills the registers the moment
 * it returns, before any other code runs (layout: OUT_* above; out must be
 * 16-byte aligned, OUT_SIZE bytes, pre-zeroed).  When ZA is on, its rows
 * 0-15 are saved and ZA is turned off (the probe's own clean-up).
 * d8-d15 hold known markers during the call (D_MARK + n in dn), so the spill
 * shows whether fn kept the callee-saved low halves; the caller's d8-d15 are
 * restored afterwards.
 * Returns fn's result (a new reference the caller must release).
 */
.equ D_MARK_HI, 0xcafe                  /* dn = 0xcafe00000000d000 + n          */
.equ D_MARK_LO, 0xd000
FUNC probe_call_and_spill
    ENTER 112, x19, x20, d8, d9, d10, d11, d12, d13, d14, d15
    mrs x9, fpcr
    str x9, [sp, #96]                   /* the caller's FPCR, put back at the end */
    LDR_GLOBAL x9, probe_api, P_FEATURES
    tbz x9, #FEAT_FP_BIT, 4f
    .irp n, 8, 9, 10, 11, 12, 13, 14, 15
    movz x9, #(D_MARK_LO + \n)
    movk x9, #D_MARK_HI, lsl #48
    fmov d\n, x9
    .endr
4:  mov x19, x2                         /* x19 = out                            */
    mrs x9, tpidr_el0
    adrp x10, fpcr_armed_tp
    str x9, [x10, #:lo12:fpcr_armed_tp] /* probe_regs_fill may change FPCR      */
    mov x16, x0
    mov x0, x1
    mov x1, #0
    mov x2, #0
    mov x3, #0
    blr x16
    stp x0, x1, [x19, #0]               /* spill at once (stores leave NZCV)    */
    stp x2, x3, [x19, #16]
    stp x4, x5, [x19, #32]
    stp x6, x7, [x19, #48]
    stp x8, x9, [x19, #64]
    stp x10, x11, [x19, #80]
    stp x12, x13, [x19, #96]
    stp x14, x15, [x19, #112]
    stp x16, x17, [x19, #128]
    str x18, [x19, #144]
    mrs x9, nzcv
    str x9, [x19, #OUT_NZCV]
    mov x20, x0
    LDR_GLOBAL x10, probe_api, P_FEATURES
    tbz x10, #FEAT_FP_BIT, 3f
    mrs x9, fpsr
    str x9, [x19, #OUT_FPSR]
    mrs x9, fpcr
    str x9, [x19, #OUT_FPCR]
    add x9, x19, #OUT_Q
    stp q0, q1, [x9], #32
    stp q2, q3, [x9], #32
    stp q4, q5, [x9], #32
    stp q6, q7, [x9], #32
    stp q8, q9, [x9], #32
    stp q10, q11, [x9], #32
    stp q12, q13, [x9], #32
    stp q14, q15, [x9], #32
    stp q16, q17, [x9], #32
    stp q18, q19, [x9], #32
    stp q20, q21, [x9], #32
    stp q22, q23, [x9], #32
    stp q24, q25, [x9], #32
    stp q26, q27, [x9], #32
    stp q28, q29, [x9], #32
    stp q30, q31, [x9], #32
    tbz x10, #FEAT_SVE_BIT, 1f
    rdvl x9, #1
    str x9, [x19, #OUT_VL]
    add x9, x19, #OUT_Z
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    str z\n, [x9, #\n, mul vl]
    .endr
    mov x9, #OUT_P
    add x9, x19, x9
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    str p\n, [x9, #\n, mul vl]
    .endr
    rdffr p0.b
    str p0, [x9, #16, mul vl]
1:  tbz x10, #FEAT_SME_BIT, 3f
    mrs x9, svcr
    str x9, [x19, #OUT_SVCR]
    rdsvl x11, #1
    str x11, [x19, #OUT_SVL]
    tbz x9, #1, 3f                      /* ZA off                               */
    mov x9, #OUT_ZA
    add x9, x19, x9
    mov w12, #0
2:  str za[w12, 0], [x9]
    add x9, x9, x11
    add w12, w12, #1
    cmp w12, #16
    b.lo 2b
    smstop za
3:  mov x0, x20
    adrp x10, fpcr_armed_tp
    str xzr, [x10, #:lo12:fpcr_armed_tp]
    ldr x9, [sp, #96]
    msr fpcr, x9
    LEAVE_RETURN 112, x19, x20, d8, d9, d10, d11, d12, d13, d14, d15
ENDFUNC probe_call_and_spill

GNU_PROPERTY_NOTES
