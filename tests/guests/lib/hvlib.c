/* hvlib.c -- console, printf and power-off for bare-metal test guests. */
#include "hvlib.h"

void hv_putc(char c)
{
    if (c == '\n')
        hv_putc('\r');
    while (!(mmio_read8(UART_BASE + 5) & 0x20))   /* LSR: transmit holding register empty */
        ;
    mmio_write8(UART_BASE, (uint8_t)c);
}

void hv_puts(const char *s)
{
    while (*s)
        hv_putc(*s++);
}

static int put_num(unsigned long long v, unsigned base, int upper, int width, char pad,
                   int left, int neg)
{
    char buf[24];
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int n = 0, out = 0;
    do {
        unsigned long long q = 0, r = 0;
        /* long division by base, bit by bit (keeps this file free of libgcc
         * 64-bit division so guests that test millicode stay honest) */
        for (int i = 63; i >= 0; i--) {
            r = (r << 1) | ((v >> i) & 1);
            if (r >= base) { r -= base; q |= 1ULL << i; }
        }
        buf[n++] = digits[r];
        v = q;
    } while (v);
    int len = n + neg;
    if (neg && pad == '0') { hv_putc('-'); out++; }
    if (!left)
        for (; len < width; width--) { hv_putc(pad); out++; }
    if (neg && pad != '0') { hv_putc('-'); out++; }
    while (n) { hv_putc(buf[--n]); out++; }
    if (left)
        for (; len < width; width--) { hv_putc(' '); out++; }
    return out;
}

int hv_vprintf(const char *fmt, va_list ap)
{
    int out = 0;
    for (; *fmt; fmt++) {
        if (*fmt != '%') { hv_putc(*fmt); out++; continue; }
        fmt++;
        int left = 0, width = 0, lng = 0;
        char pad = ' ';
        if (*fmt == '-') { left = 1; fmt++; }
        if (*fmt == '0') { pad = '0'; fmt++; }
        while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l') { lng++; fmt++; }
        unsigned long long u;
        switch (*fmt) {
        case 'd': case 'i': {
            long long v = lng >= 2 ? va_arg(ap, long long) : lng ? va_arg(ap, long) : va_arg(ap, int);
            u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
            out += put_num(u, 10, 0, width, pad, left, v < 0);
            break;
        }
        case 'u': case 'x': case 'X': case 'o':
            u = lng >= 2 ? va_arg(ap, unsigned long long) : lng ? va_arg(ap, unsigned long)
                                                               : va_arg(ap, unsigned int);
            out += put_num(u, *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16, *fmt == 'X', width, pad,
                           left, 0);
            break;
        case 'p':
            hv_puts("0x"); out += 2;
            out += put_num((unsigned long)va_arg(ap, void *), 16, 0, 8, '0', 0, 0);
            break;
        case 'c': hv_putc((char)va_arg(ap, int)); out++; break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            int n = (int)strlen(s);
            if (!left) for (; n < width; width--) { hv_putc(' '); out++; }
            hv_puts(s); out += n;
            if (left) for (; n < width; width--) { hv_putc(' '); out++; }
            break;
        }
        case '%': hv_putc('%'); out++; break;
        case 0: return out;
        default: hv_putc('%'); hv_putc(*fmt); out += 2; break;
        }
    }
    return out;
}

int hv_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = hv_vprintf(fmt, ap);
    va_end(ap);
    return n;
}

void hv_poweroff(int code)
{
    (void)code;
    mmio_write32(LASI_PCR, 2);   /* LASI power control: 2 = power off (QEMU and hvdbg exit) */
    for (;;)
        ;
}

void *memset(void *d, int c, unsigned long n)
{
    unsigned char *p = d;
    while (n--) *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--) *p++ = *q++;
    return d;
}

int memcmp(const void *a, const void *b, unsigned long n)
{
    const unsigned char *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q) return *p - *q;
    return 0;
}

unsigned long strlen(const char *s)
{
    unsigned long n = 0;
    while (s[n]) n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) { a++; b++; }
    return (unsigned char)*a - (unsigned char)*b;
}
