// What the weight decoders (unit_decoders.hpp, code_decoders.hpp) need to compile for the GPU and,
// unchanged, for the host: STRIX_HOST_DEVICE marks a function both GPU compilers build for host
// and device (and a plain C++ compiler builds as an ordinary function), STRIX_UNROLL asks a GPU
// compiler to unroll the next loop, and the few bit-level helpers below have a device form (one
// instruction) and a portable host form. So the CPU test suite checks the decoders against each
// format's reference dequantization on every CI run, without a GPU or a GPU compiler.
#pragma once

#include <bit>
#include <cstdint>

#include <strix/core/bf16.hpp>
#include <strix/core/f16.hpp>
#include <strix/core/rounded_product.hpp>

#if defined(__HIP__) || defined(__HIPCC__) || defined(__CUDACC__)
#define STRIX_HOST_DEVICE __host__ __device__
#else
#define STRIX_HOST_DEVICE
#endif

#if defined(__HIP__) || defined(__HIPCC__)
#include <hip/hip_runtime.h>
#elif defined(__CUDACC__)
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif

// The device pass of either compiler. Only it unrolls: nvcc hands a _Pragma("unroll") of a host
// pass to the host compiler, which does not know it.
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
#define STRIX_DEVICE_PASS 1
#define STRIX_UNROLL _Pragma("unroll")
#else
#define STRIX_DEVICE_PASS 0
#define STRIX_UNROLL
#endif

namespace strix::gpu {

// IEEE binary16 bits → binary32 in one conversion instruction on the GPU (exact, subnormals
// included): the decoders convert a block scale or two per unit, so a bit-manipulating version was
// a visible share of the K-quant matmul's instructions.
STRIX_HOST_DEVICE inline float half_bits_to_float(std::uint16_t bits) {
#if STRIX_DEVICE_PASS && defined(__HIP_DEVICE_COMPILE__)
  return static_cast<float>(__builtin_bit_cast(_Float16, bits));
#elif STRIX_DEVICE_PASS
  return __half2float(__ushort_as_half(bits));
#else
  return f16::from_bits(bits).to_float();
#endif
}

// binary32 → IEEE binary16 bits, rounded to nearest even (±inf beyond 65504): one conversion
// instruction on the GPU, f16::from_float on the host.
STRIX_HOST_DEVICE inline std::uint16_t float_to_half_bits(float v) {
#if STRIX_DEVICE_PASS && defined(__HIP_DEVICE_COMPILE__)
  return __builtin_bit_cast(std::uint16_t, static_cast<_Float16>(v));
#elif STRIX_DEVICE_PASS
  return __half_as_ushort(__float2half_rn(v));
#else
  return f16::from_float(v).bits;
#endif
}

// binary32 → bfloat16 bits by bf16::from_float's rule (nearest, ties to even; NaN stays a quiet
// NaN), which the GPU's own conversion does not keep for NaN payloads.
STRIX_HOST_DEVICE inline std::uint16_t float_to_bf16_bits(float v) {
#if STRIX_DEVICE_PASS
  const std::uint32_t x = __float_as_uint(v);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  return static_cast<std::uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
#else
  return bf16::from_float(v).bits;
#endif
}

// a · b rounded before any addition that follows, as ggml's reference quantizers round it
// (rounded_product.hpp): __fmul_rn is never contracted into an FMA.
STRIX_HOST_DEVICE inline float rounded_product(float a, float b) {
#if STRIX_DEVICE_PASS
  return __fmul_rn(a, b);
#else
  return strix::rounded_product(a, b);
#endif
}

STRIX_HOST_DEVICE inline float float_from_bits(std::uint32_t bits) {
#if STRIX_DEVICE_PASS
  return __uint_as_float(bits);
#else
  return std::bit_cast<float>(bits);
#endif
}

// The 32 bits at bit `shift` (0-31) of the 64-bit value hi:lo: one instruction on the GPU
// (v_alignbit_b32, shf.r), used to read words at any byte offset from aligned ones.
STRIX_HOST_DEVICE inline std::uint32_t funnel_shift_right(std::uint32_t lo, std::uint32_t hi, std::uint32_t shift) {
#if STRIX_DEVICE_PASS && defined(__HIP_DEVICE_COMPILE__)
  return __builtin_amdgcn_alignbit(hi, lo, shift);
#elif STRIX_DEVICE_PASS
  return __funnelshift_r(lo, hi, shift);
#else
  return static_cast<std::uint32_t>(((static_cast<std::uint64_t>(hi) << 32) | lo) >> (shift & 31));
#endif
}

}  // namespace strix::gpu
