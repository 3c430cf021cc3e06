// A warp's f16 matrix product on the GPU's matrix units, one interface over the two vendors'
// instructions: mma.sync m16n8k16 on NVIDIA (sm_80 and later, two per 16x16 tile) and
// v_wmma_f32_16x16x16_f16 on RDNA 3 / 3.5 (gfx11, wave32: the gfx1150 / gfx1151 of Strix). Each
// lane loads its own fragments from shared memory in the layout its instruction wants, so a caller
// only stages row-major f16 tiles and reads the accumulator through mma_position. Other targets
// have no such unit: there the product traps, and has_matrix_units() keeps the host from choosing
// a kernel that uses it.
#pragma once

#include <cstdint>
#include <string>

#include <strix/device/hip/portability.hpp>

namespace strix::gpu {

#if (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800) || defined(__GFX11__)
#define STRIX_GPU_MATRIX_UNITS 1
#else
#define STRIX_GPU_MATRIX_UNITS 0
#endif

// Whether GPU `d` runs mma_16x16x16: an NVIDIA GPU of compute capability 8.0 or later, an AMD gfx11.
inline error_t has_matrix_units(int d, bool* yes) {
#if STRIX_GPU_RUNTIME_HIP
  hipDeviceProp_t prop{};
  const error_t e = hipGetDeviceProperties(&prop, d);
  if (e == success) *yes = std::string(prop.gcnArchName).rfind("gfx11", 0) == 0;
#else
  int major = 0;
  const error_t e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d);
  if (e == success) *yes = major >= 8;
#endif
  return e;
}

// Where element i (0-7) of a lane's accumulator lies in the 16x16 tile: row m of a, row n of b.
__device__ inline void mma_position(int lane, int i, int& m, int& n) {
#if STRIX_GPU_RUNTIME_HIP
  m = 2 * i + lane / 16;
  n = lane % 16;
#else
  const int group = lane / 4;
  const int thread = lane % 4;
  m = group + 8 * ((i % 4) / 2);
  n = 8 * (i / 4) + 2 * thread + i % 2;
#endif
}

// c[m][n] += Σ_k a[m][k] · b[n][k] over a 16x16 tile, k < 16: a and b are 16 rows of 16 f16 values
// (bits) in shared memory, rows `a_stride` / `b_stride` values apart (multiples of 8, so rows are
// 16-byte aligned); c is the lane's share of the f32 tile (mma_position). Every lane of the warp
// takes part.
__device__ inline void mma_16x16x16(const std::uint16_t* a, int a_stride, const std::uint16_t* b, int b_stride, float (&c)[8]) {
  const int lane = static_cast<int>(threadIdx.x % warp_size);
#if STRIX_GPU_MATRIX_UNITS && STRIX_GPU_RUNTIME_CUDA
  // PTX's m16n8k16 fragments: lane = 4 · group + thread holds a's rows group and group + 8 and b's
  // row (n) group, at k = 2 · thread (+1) and 8 + 2 · thread (+1).
  const int group = lane / 4;
  const int thread = lane % 4;
  auto pair = [](const std::uint16_t* p) { return *reinterpret_cast<const std::uint32_t*>(p); };
  const std::uint16_t* a_low = a + group * a_stride + 2 * thread;
  const std::uint16_t* a_high = a_low + 8 * a_stride;
  const std::uint32_t a0 = pair(a_low), a1 = pair(a_high), a2 = pair(a_low + 8), a3 = pair(a_high + 8);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const std::uint16_t* b_row = b + (8 * half + group) * b_stride + 2 * thread;
    const std::uint32_t b0 = pair(b_row), b1 = pair(b_row + 8);
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(c[4 * half]), "+f"(c[4 * half + 1]), "+f"(c[4 * half + 2]), "+f"(c[4 * half + 3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
#elif STRIX_GPU_MATRIX_UNITS
  // gfx11 wave32 WMMA: lane l holds all 16 k of a's row l % 16 and of b's row l % 16 (the upper
  // half-wave repeats the lower one, as the instruction requires).
  using half16 = _Float16 __attribute__((ext_vector_type(16)));
  using float8 = float __attribute__((ext_vector_type(8)));
  using word4 = std::uint32_t __attribute__((ext_vector_type(4)));
  // Two 16-byte loads per row (rows are 16-byte, not 32-byte, aligned).
  auto row_values = [](const std::uint16_t* row) {
    const auto* words = reinterpret_cast<const word4*>(row);
    return __builtin_bit_cast(half16, __builtin_shufflevector(words[0], words[1], 0, 1, 2, 3, 4, 5, 6, 7));
  };
  const half16 a_values = row_values(a + (lane % 16) * a_stride);
  const half16 b_values = row_values(b + (lane % 16) * b_stride);
  float8 acc;
#pragma unroll
  for (int i = 0; i < 8; ++i) acc[i] = c[i];
  acc = __builtin_amdgcn_wmma_f32_16x16x16_f16_w32(a_values, b_values, acc);
#pragma unroll
  for (int i = 0; i < 8; ++i) c[i] = acc[i];
#else
  (void)a, (void)a_stride, (void)b, (void)b_stride, (void)c, (void)lane;
#if STRIX_GPU_RUNTIME_CUDA
  __trap();
#else
  __builtin_trap();
#endif
#endif
}

}  // namespace strix::gpu
