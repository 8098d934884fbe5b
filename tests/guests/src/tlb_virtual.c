/* tlb_virtual: virtual-mode data access and instruction fetch through the TLB.
 * Translation is switched on with rfi (PSW D and C); every TLB miss (data and
 * instruction) is handled by inserting an identity mapping and re-executing.
 * Then: a non-identity mapping read back physically, a read-only page (access
 * rights trap), a clean page (dirty-bit trap, handled by setting D), probe and
 * lpa, and a purge followed by a fresh miss. */
#include "hvlib.h"
#include "traps.h"

#define PROT(type, pl1, pl2, d) (((uint32_t)(type) << 24) | ((uint32_t)(pl1) << 22) | \
                                 ((uint32_t)(pl2) << 20) | ((uint32_t)(d) << 28))
#define RW_KERNEL PROT(3, 0, 0, 1)      /* read/write/execute at PL0, dirty */

static volatile int n_itlb, n_dtlb, n_dmar, n_dirty, n_other;
static volatile uint32_t fixed_prot = RW_KERNEL;

static void dtlb_insert(uint32_t space, uint32_t va, uint32_t pa, uint32_t prot)
{
    __asm__ volatile("mtsp %0,%%sr1\n\tidtlba %1,(%%sr1,%2)\n\tidtlbp %3,(%%sr1,%2)"
                     :: "r"(space), "r"((pa >> 12) << 5), "r"(va), "r"(prot) : "memory");
}

static void itlb_insert(uint32_t space, uint32_t va, uint32_t pa, uint32_t prot)
{
    __asm__ volatile("mtsp %0,%%sr1\n\tiitlba %1,(%%sr1,%2)\n\tiitlbp %3,(%%sr1,%2)"
                     :: "r"(space), "r"((pa >> 12) << 5), "r"(va), "r"(prot) : "memory");
}

static void handler(int vec, struct hv_trapframe *tf)
{
    uint32_t page = tf->ior & ~0xFFFu;
    switch (vec) {
    case 6:                                   /* ITLB miss: map the page, re-execute */
        n_itlb++;
        itlb_insert(tf->iasq_f, tf->iaoq_f & ~0xFFFu, tf->iaoq_f & ~0xFFFu, RW_KERNEL);
        break;
    case 15:                                  /* DTLB miss */
        n_dtlb++;
        dtlb_insert(tf->isr, page, page, RW_KERNEL);
        break;
    case 26:                                  /* access rights: skip the store */
        n_dmar++;
        hv_trap_skip(tf);
        break;
    case 20:                                  /* dirty bit: set D, re-execute */
        n_dirty++;
        dtlb_insert(tf->isr, page, page, fixed_prot);
        break;
    default:
        n_other++;
        hv_printf("unexpected trap %d at %08x\n", vec, tf->iaoq_f);
        hv_trap_skip(tf);
        break;
    }
}

static uint32_t buf[2048] __attribute__((aligned(4096)));     /* two pages */
static uint32_t ro_page[1024] __attribute__((aligned(4096)));
static uint32_t clean_page[1024] __attribute__((aligned(4096)));

static uint32_t probe_r(uint32_t va)
{
    uint32_t r;
    __asm__ volatile("probe,r (%%sr0,%1),%2,%0" : "=r"(r) : "r"(va), "r"(0));
    return r;
}

static uint32_t probe_w(uint32_t va)
{
    uint32_t r;
    __asm__ volatile("probe,w (%%sr0,%1),%2,%0" : "=r"(r) : "r"(va), "r"(0));
    return r;
}

static uint32_t lpa(uint32_t va)
{
    uint32_t r;
    __asm__ volatile("lpa %%r0(%%sr0,%1),%0" : "=r"(r) : "r"(va));
    return r;
}

static void virtual_work(void)
{
    /* ordinary C in virtual mode: every page it touches is mapped on demand */
    uint32_t sum = 0;
    for (int i = 0; i < 2048; i++)
        buf[i] = (uint32_t)i * 2654435761u;
    for (int i = 0; i < 2048; i++)
        sum += buf[i] ^ (uint32_t)i;
    hv_printf("virtual: sum %08x, itlb misses %d, dtlb misses %d\n", sum, n_itlb, n_dtlb);

    /* an alias: virtual 0x00800000 -> the physical page of buf */
    dtlb_insert(0, 0x00800000u, (uint32_t)buf, RW_KERNEL);
    volatile uint32_t *alias = (volatile uint32_t *)0x00800000u;
    alias[3] = 0xCAFEF00D;
    hv_printf("alias: buf[3] = %08x, alias[5] = %08x\n", ((volatile uint32_t *)buf)[3], alias[5]);

    /* read-only page: the store traps (access rights), the load works */
    dtlb_insert(0, (uint32_t)ro_page, (uint32_t)ro_page, PROT(0, 0, 0, 1));
    int before = n_dmar;
    ((volatile uint32_t *)ro_page)[1] = 7;
    hv_printf("read-only: store trapped %d time(s), value %u, probe r/w %u/%u\n",
              n_dmar - before, ((volatile uint32_t *)ro_page)[1], probe_r((uint32_t)ro_page), probe_w((uint32_t)ro_page));

    /* clean page (D = 0): the first store takes the dirty-bit trap */
    fixed_prot = PROT(1, 0, 0, 1);
    dtlb_insert(0, (uint32_t)clean_page, (uint32_t)clean_page, PROT(1, 0, 0, 0));
    clean_page[2] = 99;
    clean_page[3] = 98;
    hv_printf("dirty: traps %d, values %u %u\n", n_dirty, ((volatile uint32_t *)clean_page)[2],
              ((volatile uint32_t *)clean_page)[3]);

    hv_printf("lpa: alias -> %s\n", lpa(0x00800010u) == (uint32_t)buf + 0x10 ? "buf" : "wrong");

    /* purge the alias: the next access misses again */
    before = n_dtlb;
    __asm__ volatile("pdtlb %%r0(%%sr0,%0)" :: "r"(0x00800000u) : "memory");
    (void)alias[0];
    hv_printf("after purge: %d new dtlb miss(es)\n", n_dtlb - before);
}

int main(void)
{
    hv_traps_install(handler);
    hv_rfi_to(virtual_work, 0, PSW_Q | PSW_D | PSW_C);
    hv_printf("back: itlb %d dtlb %d dmar %d dirty %d other %d\n", n_itlb, n_dtlb, n_dmar,
              n_dirty, n_other);
    return 0;
}
