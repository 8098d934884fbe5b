/* crt0.S -- start a bare-metal guest: stack in RAM (it grows upwards on
 * PA-RISC), %dp = $global$, clear .bss, call main(), power off. */
        .section .text.start,"ax"
        .globl  _start
        .import main,code
        .import $global$,data
        .import hv_poweroff,code
_start:
        ldil    L%0x00100000,%sp        /* 1 MiB: stack base in RAM */
        ldo     64(%sp),%sp             /* room for the frame marker */
        ldil    L%$global$,%dp
        ldo     R%$global$(%dp),%dp
        ldil    L%__bss_start,%r3
        ldo     R%__bss_start(%r3),%r3
        ldil    L%__bss_end,%r4
        ldo     R%__bss_end(%r4),%r4
1:      comb,<<=,n %r4,%r3,2f
        stws,ma %r0,4(%r3)
        b,n     1b
2:      bl      main,%rp
        nop
        copy    %ret0,%r26
        bl      hv_poweroff,%rp
        nop
3:      b,n     3b
