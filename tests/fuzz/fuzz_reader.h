/* The fuzz harnesses' way of reading choices from the input bytes: past
 * the end every read is 0, so a short input is a valid, mostly-default
 * one. */
#ifndef MOEK_FUZZ_READER_H
#define MOEK_FUZZ_READER_H

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct reader {
  const uint8_t* p;
  size_t n;
} reader;

static inline uint8_t take_byte(reader* r) {
  if (!r->n) return 0;
  r->n--;
  return *r->p++;
}

/* A value in [0, bound) (bound 0: any 32 bits). */
static inline uint32_t take(reader* r, uint32_t bound) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = v << 8 | take_byte(r);
  return bound ? v % bound : v;
}

/* Mostly ordinary values, sometimes special ones. */
static inline float take_float(reader* r) {
  switch (take(r, 16)) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return 0.0f;
    default: return ((float)take(r, 20001) - 10000.0f) / 1000.0f;
  }
}

/* Any f32 bit pattern now and then (subnormals, huge, NaN payloads), else
 * an ordinary value. */
static inline float take_float_bits(reader* r) {
  if (take_byte(r) % 8) return ((float)take(r, 2001) - 1000.0f) / 1000.0f;
  const uint32_t b = take(r, 0);
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

#endif /* MOEK_FUZZ_READER_H */
