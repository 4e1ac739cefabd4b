/*
 * INSECURE entropy for the QEMU board only.
 *
 * An emulated MPS2 has no random number generator. What varies from run
 * to run is timing: QEMU's virtual clock follows the host's real time, so
 * the SysTick current value and the LAN9118's free-running 25 MHz counter,
 * sampled at points that depend on how fast the host ran the code so far
 * and when packets arrived, carry a few bits of jitter each. Those are
 * mixed into a 128-bit state with a 64-bit finaliser (SplitMix64's)
 * between samples.
 *
 * That is good enough to make TLS keys, certificate serials and salts
 * differ between runs of the emulator, and NOT good enough for anything
 * else: an observer who knows roughly when the board started can search
 * the space. Keys made here must never protect real mail. A real board
 * reads its TRNG in its own entropy.c (board_entropy); this file refuses
 * to build for any board but the QEMU one.
 */
#if !defined(LWM_BOARD_QEMU) || !LWM_BOARD_QEMU
#error "entropy.c: timer-jitter entropy is INSECURE and only for the QEMU board (LWM_BOARD_QEMU); a real board must use its hardware RNG"
#endif

#include <string.h>

#include "board.h"
#include "board_int.h"

#define SYST_CVR REG32(0xE000E018u)
#define LAN_FREE_RUN REG32(0x4020009Cu)   /* LAN9118 FREE_RUN, 25 MHz */

static uint64_t pool[2];
static uint32_t calls;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* One timing sample folded into the pool. */
static void stir(void)
{
    uint64_t sample = ((uint64_t)LAN_FREE_RUN << 32) ^ SYST_CVR ^
                      ((uint64_t)board_ms() << 20) ^ ++calls;

    pool[0] = mix64(pool[0] ^ sample) + pool[1];
    pool[1] = mix64(pool[1] + 0x9E3779B97F4A7C15ull) ^ pool[0];
}

void board_entropy_init(void)
{
    int i;

    /* samples taken while the host schedules QEMU's threads: spin a
     * little between them so each sees a different point in time */
    for (i = 0; i < 64; i++) {
        volatile int spin = (int)(SYST_CVR & 0xFF);
        while (spin-- > 0)
            ;
        stir();
    }
}

int board_entropy(uint8_t *buf, size_t len)
{
    while (len) {
        uint64_t r;
        size_t n = len < 8 ? len : 8;

        stir();
        r = mix64(pool[0] ^ (pool[1] << 1));
        memcpy(buf, &r, n);
        buf += n;
        len -= n;
    }
    return 0;
}

uint32_t board_rand32(void)
{
    uint32_t r;

    board_entropy((uint8_t *)&r, sizeof r);
    return r;
}
