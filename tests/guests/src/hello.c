/* hello: the smallest guest -- console output and power off. */
#include "hvlib.h"

int main(void)
{
    hv_printf("hello from PA-RISC: %d %u %x %s %c %lld\n", -42, 42u, 0xbeefu, "str", 'c',
              -1234567890123LL);
    return 0;
}
