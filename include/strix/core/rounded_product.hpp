// rounded_product(a, b): a * b rounded to float before it is used, so that a following add cannot
// be fused into an FMA by the compiler (GCC contracts across statements when FMA is enabled, e.g.
// with -march=znver5). ggml's reference (de)quantizers round every product; bit-exactness with
// GGUF files written by ggml depends on doing the same.
#pragma once

namespace strix {

[[nodiscard]] inline float rounded_product(float a, float b) noexcept {
  float product = a * b;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+x"(product));
#elif defined(__GNUC__) && defined(__aarch64__)
  __asm__("" : "+w"(product));
#else
  volatile float materialised = product;
  product = materialised;
#endif
  return product;
}

}  // namespace strix
