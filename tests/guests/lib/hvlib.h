/* hvlib.h -- the tiny runtime every bare-metal test guest links with:
 * console output on the LASI 16550A UART (polled), printf, power off. */
#ifndef HVLIB_H
#define HVLIB_H
#include <stdarg.h>
#include <stdint.h>

#define UART_BASE   0xFFD05800u
#define LASI_PCR    0xFFD0C000u

static inline void mmio_write8(uint32_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline uint8_t mmio_read8(uint32_t a) { return *(volatile uint8_t *)a; }
static inline void mmio_write32(uint32_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint32_t mmio_read32(uint32_t a) { return *(volatile uint32_t *)a; }

void hv_putc(char c);
void hv_puts(const char *s);                 /* no newline appended */
int hv_printf(const char *fmt, ...);          /* %d %i %u %x %X %o %c %s %p %%, l/ll, width, 0, - */
int hv_vprintf(const char *fmt, va_list ap);
void hv_poweroff(int code) __attribute__((noreturn));

void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
int memcmp(const void *a, const void *b, unsigned long n);
unsigned long strlen(const char *s);
int strcmp(const char *a, const char *b);
#endif
