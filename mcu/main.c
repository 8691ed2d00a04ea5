/*
 * The MCU driver for a model exported with `frost export MODEL.int8 --c DIR --name model`:
 * reads quantized images (model_INPUT_SIZE bytes each, NHWC, as frost_int8_quantize_input
 * makes them) from the host file input.bin over semihosting, runs model_run on each,
 * writes the outputs to output.bin (model_OUTPUT_SIZE values per image, in the target's
 * byte order) and prints one line of key=value numbers for scripts/mcu-run:
 *
 *   images, arena and const bytes (from model.h), the peak stack, and timer ticks: the
 *   total, minimum and maximum per model_run call, and the ticks of a calibration loop of
 *   a known number of instructions.
 *
 * QEMU does not model cycles. Under `-icount shift=0` its virtual clock advances 1 ns per
 * executed instruction, and the MPS2 timer counts that clock at the board's 25 MHz: one
 * tick is 40 instructions. The calibration loop checks that ratio on every run.
 */
#include <stdint.h>

#include "model.h"
#include "semihost.h"
#include "startup.h"

/* CMSDK APB timer 0 of the MPS2 boards, clocked at 25 MHz, counting down */
#define TIMER0_CTRL   (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE  (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

#define CALIBRATION_LOOPS 1000000u

static uint8_t image[MODEL_INPUT_SIZE];
static model_output_t output[MODEL_OUTPUT_SIZE];

static void timer_start(void)
{
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xffffffffu;
    TIMER0_VALUE = 0xffffffffu;
    TIMER0_CTRL = 1; /* enable */
}

static uint32_t timer_now(void) { return TIMER0_VALUE; }

/* Ticks of a loop of exactly 2 * CALIBRATION_LOOPS + 1 instructions (subs + bne per turn,
 * one mov). */
static uint32_t calibration_ticks(void)
{
    uint32_t t0 = timer_now(), n = CALIBRATION_LOOPS;
    __asm__ volatile("1:\n\tsubs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
    return t0 - timer_now();
}

/* s followed by the decimal digits of v, into the console */
static void print_number(const char *s, uint64_t v)
{
    char digits[24];
    int i = (int)sizeof digits - 1;
    digits[i] = 0;
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    semihost_puts(s);
    semihost_puts(digits + i);
}

int main(void)
{
    int in = semihost_open("input.bin", "rb"), out = semihost_open("output.bin", "wb");
    if (in < 0 || out < 0) {
        semihost_puts("frost-mcu: cannot open input.bin or output.bin\n");
        return 2;
    }
    timer_start();
    uint32_t calibration = calibration_ticks();
    uint64_t total = 0;
    uint32_t lo = 0xffffffffu, hi = 0;
    unsigned long images = 0;
    while (semihost_read(in, image, sizeof image) == (long)sizeof image) {
        uint32_t t0 = timer_now();
        int rc = model_run(image, output);
        uint32_t ticks = t0 - timer_now();
        if (rc != 0 || semihost_write(out, output, sizeof output) != 0) {
            semihost_puts("frost-mcu: model_run or writing output.bin failed\n");
            return 3;
        }
        total += ticks;
        lo = ticks < lo ? ticks : lo;
        hi = ticks > hi ? ticks : hi;
        images++;
    }
    semihost_close(in);
    if (semihost_close(out) != 0 || images == 0) {
        semihost_puts("frost-mcu: no image in input.bin, or closing output.bin failed\n");
        return 4;
    }
    print_number("frost-mcu: images=", images);
    print_number(" arena_bytes=", MODEL_ARENA_BYTES);
    print_number(" const_bytes=", MODEL_CONST_BYTES);
    print_number(" stack_peak_bytes=", mcu_stack_peak_bytes());
    print_number(" stack_painted_bytes=", mcu_stack_painted_bytes());
    print_number(" ticks_total=", total);
    print_number(" ticks_min=", lo);
    print_number(" ticks_max=", hi);
    print_number(" calibration_instructions=", 2 * (uint64_t)CALIBRATION_LOOPS + 1);
    print_number(" calibration_ticks=", calibration);
    semihost_puts("\n");
    return 0;
}
