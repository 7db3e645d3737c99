/* Big-endian (network order) loads and stores. Pure, inline. */
#ifndef SMART_BYTES_H
#define SMART_BYTES_H

#include <stdint.h>

static inline uint16_t smart__get16(const uint8_t *p) {
  return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}
static inline uint32_t smart__get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}
static inline uint64_t smart__get64(const uint8_t *p) {
  return (uint64_t)smart__get32(p) << 32 | smart__get32(p + 4);
}
static inline void smart__put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void smart__put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static inline void smart__put64(uint8_t *p, uint64_t v) {
  smart__put32(p, (uint32_t)(v >> 32));
  smart__put32(p + 4, (uint32_t)v);
}

#endif
