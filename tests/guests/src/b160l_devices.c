/* b160l_devices: the B160L devices SeaBIOS-hppa and Linux read, as a guest sees them --
 * every fw_cfg item and file (the QEMU signature, RAM size, CPU counts, boot device, the
 * file directory and each file's bytes), Dino's registers after reset, its PCI
 * configuration space (no device on the bus), its interrupt routing to the CPU's EIRR,
 * Dino's UART registers, the LASI parallel port and the CMOS RTC's status registers.  Only deterministic facts:
 * no time-of-day values. */
#include "hvlib.h"

#define FW_CFG_CTL   0xFFFA0000u
#define FW_CFG_DATA  0xFFFA0004u
#define DINO         0xFFF80000u
#define DINO_UART    0xFFF83800u
#define CMOS         0xF9000070u

static inline void mmio_write16(uint32_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline uint16_t mmio_read16(uint32_t a) { return *(volatile uint16_t *)a; }

static void fw_select(unsigned key) { mmio_write16(FW_CFG_CTL, key); }
static unsigned fw_byte(void) { return mmio_read8(FW_CFG_DATA); }

static void dump_item(unsigned key, unsigned len)
{
    fw_select(key);
    hv_printf("fw_cfg %04x:", key);
    for (unsigned i = 0; i < len; i++)
        hv_printf(" %02x", fw_byte());
    hv_printf("\n");
}

static uint32_t be32(const unsigned char *p) { return p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static void dump_files(void)
{
    static unsigned char dir[4 + 64 * 32];
    fw_select(0x19);
    for (unsigned i = 0; i < sizeof dir; i++)
        dir[i] = fw_byte();
    unsigned count = be32(dir);
    hv_printf("fw_cfg files: %u\n", count);
    for (unsigned i = 0; i < count && i < 32; i++) {
        unsigned char *e = dir + 4 + 64 * i;
        uint32_t size = be32(e);
        unsigned key = e[4] << 8 | e[5];
        hv_printf("  %04x %3u %s:", key, (unsigned)size, (const char *)(e + 8));
        fw_select(key);
        for (unsigned j = 0; j < size && j < 16; j++)
            hv_printf(" %02x", fw_byte());
        hv_printf("\n");
    }
    uint32_t sum = 0;
    for (unsigned i = 0; i < sizeof dir; i++)
        sum = sum * 31 + dir[i];
    hv_printf("fw_cfg directory checksum %08x\n", sum);
}

static void dino_irq_via_uart(void)
{
    /* Dino IMR enables IRQ 10 (its UART); the UART raises THRI when IER enables it. */
    uint32_t eirr_before = mmio_read32(0xFFFB0000u);
    mmio_write32(DINO + 0x018, 1u << 10);
    mmio_write8(DINO_UART + 1, 0x02);
    uint32_t eirr;
    __asm__ volatile("mfctl %%cr23,%0" : "=r"(eirr));
    hv_printf("dino irq: eirr before %08x after %08x ipr %08x ilr %08x irr0 %08x\n",
              eirr_before, eirr, mmio_read32(DINO + 0x01C), mmio_read32(DINO + 0x028),
              mmio_read32(DINO + 0x00C));
    hv_printf("dino ipr after read %08x\n", mmio_read32(DINO + 0x01C));
    hv_printf("dino uart iir %02x\n", mmio_read8(DINO_UART + 2));
    mmio_write8(DINO_UART + 1, 0);
    hv_printf("dino ilr after lowering %08x\n", mmio_read32(DINO + 0x028));
    __asm__ volatile("mtctl %0,%%cr23" : : "r"(0xffffffffu));
    mmio_write32(DINO + 0x018, 0);
}

int main(void)
{
    static const unsigned short keys[] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c,
                                           0x0d, 0x0e, 0x0f, 0x10, 0x8000, 0x8003, 0x3f, 0x40,
                                           0x4000 };
    for (unsigned i = 0; i < sizeof keys / sizeof keys[0]; i++)
        dump_item(keys[i], 20);
    dump_files();
    /* a read past an item's end gives zeros; re-selecting starts over */
    fw_select(0x00);
    for (int i = 0; i < 6; i++)
        hv_printf("%02x ", fw_byte());
    hv_printf("\n");

    static const unsigned short dino_regs[] = { 0x004, 0x00c, 0x010, 0x014, 0x018, 0x01c,
                                                0x020, 0x024, 0x028, 0x038, 0x05c, 0x060,
                                                0x064, 0x800, 0x804, 0x808, 0x80c, 0x810,
                                                0x814, 0x81c, 0x820, 0x824, 0x828, 0x830 };
    for (unsigned i = 0; i < sizeof dino_regs / sizeof dino_regs[0]; i++)
        hv_printf("dino %03x = %08x\n", dino_regs[i], mmio_read32(DINO + dino_regs[i]));
    /* (not IO_CONTROL/IO_ADDR_EN: that would open PCI windows over the I/O space) */
    for (unsigned i = 0; i < sizeof dino_regs / sizeof dino_regs[0]; i++)
        if (dino_regs[i] != 0x038 && dino_regs[i] != 0x060)
            mmio_write32(DINO + dino_regs[i], 0xffffffffu);
    mmio_write32(DINO + 0x018, 0);
    mmio_write32(DINO + 0x004, 0xFFFB0003u);
    mmio_write32(DINO + 0x010, 0xFFFB0003u);
    for (unsigned i = 0; i < sizeof dino_regs / sizeof dino_regs[0]; i++)
        hv_printf("dino %03x := ~0 -> %08x\n", dino_regs[i], mmio_read32(DINO + dino_regs[i]));
    mmio_write32(DINO + 0x024, 0);

    /* PCI configuration: bus 0 is empty but for QEMU's SCSI controller at 00:00.0, which
     * hvdbg does not model (docs/guests.md) -- so slot 0 is left out */
    for (unsigned devfn = 8; devfn < 256; devfn += 37) {
        mmio_write32(DINO + 0x064, 0x80000000u | devfn << 8);
        hv_printf("pci %02x: id %08x", devfn, mmio_read32(DINO + 0x068));
        hv_printf(" b %02x h %04x\n", mmio_read8(DINO + 0x06b), mmio_read16(DINO + 0x06a));
    }
    mmio_write32(DINO + 0x064, 0x12345677u);
    hv_printf("pci config addr %08x\n", mmio_read32(DINO + 0x064));
    hv_printf("pci io %08x %04x %02x\n", mmio_read32(DINO + 0x06c), mmio_read16(DINO + 0x06e),
              mmio_read8(DINO + 0x06d));

    dino_irq_via_uart();
    hv_printf("dino uart:");
    for (unsigned r = 1; r < 8; r++)
        hv_printf(" %02x", mmio_read8(DINO_UART + r));
    hv_printf("\n");

    /* the LASI parallel port (no printer attached) */
    hv_printf("parport:");
    for (unsigned r = 0; r < 8; r++)
        hv_printf(" %02x", mmio_read8(0xFFD02800u + r));
    mmio_write8(0xFFD02800u, 0x55);
    mmio_write8(0xFFD02802u, 0x0d);            /* select, init, strobe */
    mmio_write8(0xFFD02802u, 0x0c);
    hv_printf(" | %02x %02x %02x", mmio_read8(0xFFD02800u), mmio_read8(0xFFD02801u),
              mmio_read8(0xFFD02802u));
    mmio_write8(0xFFD02802u, 0x08);            /* init low: printer reset */
    hv_printf(" %02x %02x\n", mmio_read8(0xFFD02801u), mmio_read8(0xFFD02801u));

    static const unsigned char cmos_regs[] = { 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x38, 0x3d, 0x7f };
    for (unsigned i = 0; i < sizeof cmos_regs; i++) {
        mmio_write8(CMOS, cmos_regs[i]);
        hv_printf("cmos %02x = %02x\n", cmos_regs[i], mmio_read8(CMOS + 1));
    }
    mmio_write8(CMOS, 0x40);
    mmio_write8(CMOS + 1, 0x5a);
    mmio_write8(CMOS, 0x40);
    hv_printf("cmos ram %02x, index port reads %02x\n", mmio_read8(CMOS + 1), mmio_read8(CMOS));
    return 0;
}
