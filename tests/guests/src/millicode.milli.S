/* millicode.milli.S -- C-callable wrappers around libgcc's PA-RISC millicode
 * ($$mulI, $$divI, $$divU, $$remI, $$remU, $$divI_N, $$divU_N).  Millicode takes
 * its operands in %r26/%r25, returns in %r29 and links through %r31, so gcc never
 * calls it for `*` (it uses the FPU's xmpyu) -- these wrappers make the integer
 * core's own ds/addc/shNadd sequences run without the FPU. */
        .text

        .macro  MILLI name, sym
        .globl  \name
        .type   \name,@function
\name:
        .import \sym,millicode
        bl      \sym,%r31
        nop
        bv      %r0(%rp)
        copy    %r29,%r28
        .endm

        MILLI   m_mulI, $$mulI
        MILLI   m_divI, $$divI
        MILLI   m_divU, $$divU
        MILLI   m_remI, $$remI
        MILLI   m_remU, $$remU
        MILLI   m_divI_3, $$divI_3
        MILLI   m_divI_5, $$divI_5
        MILLI   m_divI_6, $$divI_6
        MILLI   m_divI_7, $$divI_7
        MILLI   m_divI_9, $$divI_9
        MILLI   m_divI_10, $$divI_10
        MILLI   m_divI_12, $$divI_12
        MILLI   m_divI_14, $$divI_14
        MILLI   m_divI_15, $$divI_15
        MILLI   m_divI_17, $$divI_17
        MILLI   m_divI_2, $$divI_2
        MILLI   m_divI_4, $$divI_4
        MILLI   m_divI_8, $$divI_8
        MILLI   m_divI_16, $$divI_16
        MILLI   m_divU_3, $$divU_3
        MILLI   m_divU_5, $$divU_5
        MILLI   m_divU_6, $$divU_6
        MILLI   m_divU_7, $$divU_7
        MILLI   m_divU_9, $$divU_9
        MILLI   m_divU_10, $$divU_10
        MILLI   m_divU_12, $$divU_12
        MILLI   m_divU_14, $$divU_14
        MILLI   m_divU_15, $$divU_15
        MILLI   m_divU_17, $$divU_17
