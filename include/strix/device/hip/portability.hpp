// Where HIP and CUDA differ for strix's GPU code. The kernels are written once in HIP's dialect
// (__global__, threadIdx, <<<>>> launches, which both compilers accept); this header includes the
// right runtime and gives the handful of runtime calls and intrinsics that are spelt differently a
// common name in strix::gpu (the ones the weight decoders use, which also have host forms, are in
// host_device.hpp). Compiled by hipcc / clang -x hip (AMD, wave32 on gfx11) or by nvcc (NVIDIA);
// both have 32-lane warps here, and nothing assumes wave64.
#pragma once

#if defined(__HIP__) || defined(__HIPCC__)
#include <hip/hip_runtime.h>
#define STRIX_GPU_RUNTIME_HIP 1
#elif defined(__CUDACC__)
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#define STRIX_GPU_RUNTIME_CUDA 1
#else
#error "strix/device/hip is GPU code: compile this translation unit with hipcc, clang -x hip or nvcc (-x cu)"
#endif

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <strix/core/error.hpp>
#include <strix/device/hip/host_device.hpp>

namespace strix::gpu {

inline constexpr int warp_size = 32;

// HIP's runtime API is CUDA's with "hip" for "cuda": one set of wrappers, spelled through this.
#if STRIX_GPU_RUNTIME_HIP
#define STRIX_GPU_API(name) hip##name
#else
#define STRIX_GPU_API(name) cuda##name
#endif

using error_t = STRIX_GPU_API(Error_t);
using stream_t = STRIX_GPU_API(Stream_t);
using event_t = STRIX_GPU_API(Event_t);
using copy_kind = STRIX_GPU_API(MemcpyKind);
inline constexpr error_t success = STRIX_GPU_API(Success);
inline constexpr copy_kind copy_host_to_device = STRIX_GPU_API(MemcpyHostToDevice);
inline constexpr copy_kind copy_device_to_host = STRIX_GPU_API(MemcpyDeviceToHost);
inline constexpr copy_kind copy_device_to_device = STRIX_GPU_API(MemcpyDeviceToDevice);

inline const char* error_string(error_t e) { return STRIX_GPU_API(GetErrorString)(e); }
inline error_t get_last_error() { return STRIX_GPU_API(GetLastError)(); }
inline error_t set_device(int d) { return STRIX_GPU_API(SetDevice)(d); }
inline error_t device_count(int* n) { return STRIX_GPU_API(GetDeviceCount)(n); }
inline error_t allocate(void** p, std::size_t bytes) { return STRIX_GPU_API(Malloc)(p, bytes); }
inline error_t release(void* p) { return STRIX_GPU_API(Free)(p); }
// Page-locked host memory: copies from and to it are DMA, asynchronous to the host. Copies from
// pageable memory wait for the stream and go through the driver's bounce buffer; copies to it wait
// for the stream.
#if STRIX_GPU_RUNTIME_HIP
inline error_t allocate_pinned(void** p, std::size_t bytes) { return hipHostMalloc(p, bytes, hipHostMallocDefault); }
inline error_t release_pinned(void* p) { return hipHostFree(p); }
#else
inline error_t allocate_pinned(void** p, std::size_t bytes) { return cudaMallocHost(p, bytes); }
inline error_t release_pinned(void* p) { return cudaFreeHost(p); }
#endif

// Host memory the GPU reads where it lies: `bytes` from `host` page-locked and mapped into the
// GPU's address space, `*device` the address kernels use. Registered read-only (the GPU only reads
// it), which is what lets a read-only mapping (a model file) be registered at all, where the runtime
// knows the flag (CUDA 11.1+, HIP 6); without it such a registration fails and the caller copies.
#if STRIX_GPU_RUNTIME_CUDA
inline constexpr unsigned register_read_only_flag = cudaHostRegisterReadOnly;
#elif defined(hipHostRegisterReadOnly)
inline constexpr unsigned register_read_only_flag = hipHostRegisterReadOnly;
#else
inline constexpr unsigned register_read_only_flag = 0;
#endif
inline error_t unregister_host(const void* host) { return STRIX_GPU_API(HostUnregister)(const_cast<void*>(host)); }
inline error_t register_host_read_only(const void* host, std::size_t bytes, void** device) {
  error_t e = STRIX_GPU_API(HostRegister)(const_cast<void*>(host), bytes, STRIX_GPU_API(HostRegisterMapped) | register_read_only_flag);
  if (e != success) return e;
  e = STRIX_GPU_API(HostGetDevicePointer)(device, const_cast<void*>(host), 0);
  if (e != success) (void)unregister_host(host);
  return e;
}
inline error_t fill_zero(void* p, std::size_t bytes) { return STRIX_GPU_API(Memset)(p, 0, bytes); }
inline error_t copy(void* dst, const void* src, std::size_t bytes, copy_kind kind) { return STRIX_GPU_API(Memcpy)(dst, src, bytes, kind); }
inline error_t copy_async(void* dst, const void* src, std::size_t bytes, copy_kind kind, stream_t s) {
  return STRIX_GPU_API(MemcpyAsync)(dst, src, bytes, kind, s);
}
inline error_t copy_2d_async(void* dst, std::size_t dst_pitch, const void* src, std::size_t src_pitch, std::size_t width,
                             std::size_t height, copy_kind kind, stream_t s) {
  return STRIX_GPU_API(Memcpy2DAsync)(dst, dst_pitch, src, src_pitch, width, height, kind, s);
}
inline error_t stream_create(stream_t* s) { return STRIX_GPU_API(StreamCreateWithFlags)(s, STRIX_GPU_API(StreamNonBlocking)); }
inline error_t stream_destroy(stream_t s) { return STRIX_GPU_API(StreamDestroy)(s); }
inline error_t stream_synchronize(stream_t s) { return STRIX_GPU_API(StreamSynchronize)(s); }
inline error_t event_create(event_t* e) { return STRIX_GPU_API(EventCreate)(e); }
inline error_t event_destroy(event_t e) { return STRIX_GPU_API(EventDestroy)(e); }
inline error_t event_record(event_t e, stream_t s) { return STRIX_GPU_API(EventRecord)(e, s); }
inline error_t event_synchronize(event_t e) { return STRIX_GPU_API(EventSynchronize)(e); }
inline error_t event_elapsed_ms(float* ms, event_t start, event_t stop) { return STRIX_GPU_API(EventElapsedTime)(ms, start, stop); }

// The few names that differ beyond the prefix.
#if STRIX_GPU_RUNTIME_HIP
using device_properties = hipDeviceProp_t;
inline constexpr auto pageable_memory_attribute = hipDeviceAttributePageableMemoryAccess;
inline constexpr auto integrated_attribute = hipDeviceAttributeIntegrated;
inline constexpr auto multiprocessors_attribute = hipDeviceAttributeMultiprocessorCount;
inline constexpr auto threads_per_multiprocessor_attribute = hipDeviceAttributeMaxThreadsPerMultiProcessor;
#else
using device_properties = cudaDeviceProp;
inline constexpr auto pageable_memory_attribute = cudaDevAttrPageableMemoryAccess;
inline constexpr auto integrated_attribute = cudaDevAttrIntegrated;
inline constexpr auto multiprocessors_attribute = cudaDevAttrMultiProcessorCount;
inline constexpr auto threads_per_multiprocessor_attribute = cudaDevAttrMaxThreadsPerMultiProcessor;
#endif

inline error_t device_name(int d, std::string& name) {
  device_properties prop{};
  const error_t e = STRIX_GPU_API(GetDeviceProperties)(&prop, d);
  if (e == success) name = prop.name;
  return e;
}
// 1 where the GPU reads ordinary (pageable, mmapped) host memory coherently: an APU with XNACK /
// HMM, or a discrete GPU under HMM.
inline error_t pageable_memory_access(int d, int* value) { return STRIX_GPU_API(DeviceGetAttribute)(value, pageable_memory_attribute, d); }
inline error_t integrated(int d, int* value) { return STRIX_GPU_API(DeviceGetAttribute)(value, integrated_attribute, d); }
// Warps the whole GPU holds at once (multiprocessors / compute units times threads each, over 32).
inline error_t resident_warps(int d, std::size_t* warps) {
  int units = 0;
  int threads = 0;
  error_t e = STRIX_GPU_API(DeviceGetAttribute)(&units, multiprocessors_attribute, d);
  if (e == success) e = STRIX_GPU_API(DeviceGetAttribute)(&threads, threads_per_multiprocessor_attribute, d);
  if (e == success) *warps = static_cast<std::size_t>(units) * static_cast<std::size_t>(threads) / warp_size;
  return e;
}

// Blocks of `kernel` one multiprocessor / compute unit holds at once, launched with `threads`
// threads and `shared_bytes` of dynamic shared memory each.
template <class Kernel>
inline error_t resident_blocks(Kernel kernel, int threads, std::size_t shared_bytes, int* blocks) {
  return STRIX_GPU_API(OccupancyMaxActiveBlocksPerMultiprocessor)(blocks, kernel, threads, shared_bytes);
}
inline error_t multiprocessors(int d, int* count) { return STRIX_GPU_API(DeviceGetAttribute)(count, multiprocessors_attribute, d); }

// Launches kernel<<<grid, threads, shared_bytes, stream>>>(args...), letting it overlap the kernel
// before it on the stream where the GPU can and `overlap` says so (see wait_for_previous_kernel).
template <class... Params, class... Args>
inline error_t launch_after_previous(bool overlap, void (*kernel)(Params...), dim3 grid, dim3 threads, std::size_t shared_bytes, stream_t stream,
                                     Args&&... args) {
#if STRIX_GPU_RUNTIME_CUDA
  if (overlap) {
    cudaLaunchAttribute early_start{};
    early_start.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    early_start.val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = threads;
    config.dynamicSmemBytes = shared_bytes;
    config.stream = stream;
    config.attrs = &early_start;
    config.numAttrs = 1;
    return cudaLaunchKernelEx(&config, kernel, static_cast<Params>(std::forward<Args>(args))...);
  }
#else
  (void)overlap;
#endif
  kernel<<<grid, threads, shared_bytes, stream>>>(static_cast<Params>(std::forward<Args>(args))...);
  return get_last_error();
}

#undef STRIX_GPU_API

// Throws strix::error naming the call that failed and the runtime's reason.
inline void check(error_t status, const char* what) {
  if (status != success) {
    throw error(error_category::device, std::string(what) + " failed: " + error_string(status));
  }
}

// Kernels that follow one another on a stream overlap where the GPU lets them (programmatic
// dependent launch, sm_90 and later): a kernel launched by `launch_after_previous` may start while
// the kernel before it still runs, so every block of every kernel of the policy calls
// follow_previous_kernel() before it reads or writes any memory another kernel writes or reads
// (only the weights, which no kernel writes, may be read before) and before it ends (the kernel
// after it waits for it alone, so it must not end before its own predecessor). It waits for the
// kernel before to finish, then lets the next one's blocks start as this one's finish. HIP has no
// such launch: a no-op there, as it is for a kernel launched with <<<>>>.
__device__ inline void follow_previous_kernel() {
#if STRIX_GPU_RUNTIME_CUDA && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
  cudaTriggerProgrammaticLaunchCompletion();
#endif
}

// Butterfly exchange within a warp of 32 lanes (all lanes active).
template <class T>
__device__ inline T shuffle_xor(T value, int lane_mask) {
#if STRIX_GPU_RUNTIME_HIP
  return __shfl_xor(value, lane_mask, warp_size);
#else
  return __shfl_xor_sync(0xffffffffu, value, lane_mask, warp_size);
#endif
}

// Lane `source`'s value, to every lane (all lanes active).
template <class T>
__device__ inline T shuffle(T value, int source) {
#if STRIX_GPU_RUNTIME_HIP
  return __shfl(value, source, warp_size);
#else
  return __shfl_sync(0xffffffffu, value, source, warp_size);
#endif
}

// Orders the warp's shared-memory writes before its later reads (and reads before later writes):
// a barrier for the 32 lanes of one warp only.
__device__ inline void sync_warp() {
#if STRIX_GPU_RUNTIME_HIP
  // Wave32 lanes run in lockstep; the fences keep the compiler and the memory model from moving
  // LDS accesses across the barrier.
  __builtin_amdgcn_fence(__ATOMIC_RELEASE, "wavefront");
  __builtin_amdgcn_wave_barrier();
  __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "wavefront");
#else
  __syncwarp();
#endif
}

// Every lane gets the sum over the warp.
__device__ inline float warp_sum(float value) {
  for (int mask = warp_size / 2; mask > 0; mask /= 2) value += shuffle_xor(value, mask);
  return value;
}

// Every lane gets the maximum over the warp (fmaxf: a NaN lane is ignored while a number is left).
__device__ inline float warp_max(float value) {
  for (int mask = warp_size / 2; mask > 0; mask /= 2) value = fmaxf(value, shuffle_xor(value, mask));
  return value;
}

// The 4 bytes from byte `bytes` (0 … 3) of the 8 bytes hi:lo (lo first): one instruction on both
// vendors (v_alignbyte_b32, shf.r).
__device__ inline std::uint32_t funnel_shift_bytes(std::uint32_t lo, std::uint32_t hi, unsigned bytes) {
#if STRIX_GPU_RUNTIME_HIP
  return __builtin_amdgcn_alignbyte(hi, lo, bytes);
#else
  return __funnelshift_r(lo, hi, 8 * bytes);
#endif
}

// accumulator + Σ a_k·b_k over the four signed bytes of a and b: one instruction on both vendors
// (v_dot4_i32_iu8 on gfx11, dp4a on NVIDIA); a byte-wise loop on AMD targets without it.
__device__ inline int dot4_i8(int a, int b, int accumulator) {
#if STRIX_GPU_RUNTIME_HIP && defined(__GFX11__)
  return __builtin_amdgcn_sudot4(true, a, true, b, accumulator, false);
#elif STRIX_GPU_RUNTIME_HIP
  for (int k = 0; k < 4; ++k) accumulator += static_cast<signed char>(a >> (8 * k)) * static_cast<signed char>(b >> (8 * k));
  return accumulator;
#else
  return __dp4a(a, b, accumulator);
#endif
}

}  // namespace strix::gpu
