// The hip device policy: GPU kernels written once (kernels.hpp) for AMD RDNA 3.5 (gfx1150/gfx1151,
// hipcc or clang -x hip) and NVIDIA (nvcc), behind the same device_policy concept as reference and
// zen5. Opt-in: include this header only from a translation unit compiled as HIP or CUDA.
//
// Where the data lives. strix's blocks keep activations, KV pages and weights in host memory (mapped
// model files, std::vector scratch), so the policy has to make them reachable by the GPU:
//  - direct: the GPU reads pageable host memory coherently (an APU with XNACK/HMM such as gfx1151
//    with HSA_XNACK=1, or a discrete GPU under HMM). Kernels read weights where they lie, the mapped
//    file, with no second copy, and activations in place.
//  - registered: the GPU reads host memory that was registered with it (page-locked and mapped into
//    its address space). Weights lying in a region use_in_place() was given (a mapped model file;
//    the example models offer theirs on every forward) are used where they lie; others are uploaded
//    as in copied mode. Activations are staged and the KV cache copied as in copied mode. This is
//    the mode for an APU whose GPU cannot fault on pageable memory (RDNA 3.5's gfx1150/gfx1151
//    without HMM): no second copy of the weights in the GPU's carve-out, which copied mode makes.
//    Only whole regions are registered: a registration that shares pages with other heap memory
//    makes the runtime refuse copies from that memory (seen with CUDA: "invalid argument").
//  - copied: weights are uploaded once on first use (kept per host address and byte count; they must
//    not change while the policy lives, as a mapped model file does not) and each call stages its
//    activations through a device arena (copy in, kernel, copy out; small pieces by way of
//    page-locked host memory). A paged KV cache gets a copy on the GPU, into which write_kv
//    writes new rows (they reach the cache's host memory when the host next waits for the GPU)
//    and whose blocks are uploaded when the cache's stamps say the host wrote them
//    (forget_kv_caches() frees the copies).
// The constructor picks direct when the device reports pageable memory access, else registered on
// an integrated GPU and copied on a discrete one, and says why in memory_mode_reason(); hip_options
// can force any of them (registered works on a discrete GPU too, reading host memory over the bus).
//
// GPU kernels: matmul and embedding for F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, IQ4_XS and
// MXFP4 (weights decoded in registers; prefill of the block formats in f16 tiles on the matrix
// units, mma / WMMA, where the GPU has them: tile_matmul.hpp), rmsnorm, rope, activations, gated products, soft-cap,
// softmax, argmax, add, scale, row gather, weighted scatter-add, KV rows into and attention over
// the paged KV cache (every KV type) and the Gated DeltaNet recurrence. Documented fallbacks to the reference kernels
// on the host (after the GPU has finished): matmul/embedding of other formats, top-k, DeltaNet key
// heads longer than 256, and in copied mode the element-wise, norm, rope, softmax, argmax and
// embedding calls too small to pay for staging (hip_options::host_call_max_values; a decode step
// makes hundreds) and every row gather and scatter (moves_rows_on_host); registered mode, which
// stages activations too, likewise. Every call is synchronous — when it returns, its outputs are in
// host memory — unless hip_options::resident_activations is on (copied and registered modes): then
// results stay on the GPU between calls until the host asks for them (host_access, synchronize;
// device_policy in concepts.hpp), every call but the fallbacks runs on the GPU, and the fallbacks
// first bring back what they touch. Not thread-safe (one stream, one arena per policy object).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <strix/core/buffer.hpp>
#include <strix/device/concepts.hpp>
#include <strix/device/hip/attention_kernel.hpp>
#include <strix/device/hip/deltanet_kernel.hpp>
#include <strix/device/hip/fused_decode.hpp>
#include <strix/device/hip/kernels.hpp>
#include <strix/device/hip/matrix_units.hpp>
#include <strix/device/hip/portability.hpp>
#include <strix/device/hip/tile_matmul.hpp>
#include <strix/device/reference/reference.hpp>

namespace strix {

enum class hip_memory_mode { automatic, direct, registered, copied };

constexpr std::string_view to_string(hip_memory_mode mode) noexcept {
  switch (mode) {
    case hip_memory_mode::automatic: return "automatic";
    case hip_memory_mode::direct: return "direct";
    case hip_memory_mode::registered: return "registered";
    case hip_memory_mode::copied: return "copied";
  }
  return "unknown";
}

struct hip_options {
  int device = 0;
  hip_memory_mode memory = hip_memory_mode::automatic;
  // Matmuls of the formats int8_matmul<Format>() names multiply int8-quantized activations (one
  // scale per 32, as ggml's q8_1) by integer weight codes; off: f32 activations throughout.
  bool int8_activations = true;
  // Warps per weight row of a decode matmul (1, 2, 4 or 8); 0: decode_warps_per_row's choice.
  int decode_warps_per_row = 0;
  // Decode matmuls (one token) of matrices with fewer weights (rows × row length) keep f32
  // activations: quantizing them is a launch of its own, 3-5 µs on the H100, which a small matrix
  // does not win back (an expert's 704x2816: 5.7-6.1 µs with f32, 7-9.5 with int8; 10240x2560
  // Q4_K: 18.8 with f32, 12.9 with int8; docs/performance.md). 0: int8 at every size.
  std::size_t int8_decode_min_weights = std::size_t{1} << 23;
  // Decode matmuls (one token, no groups) with int8 activations of Q4_K, Q6_K or Q8_0 weights and
  // at least this many rows run hip_kernels::fused_decode_kernel: the activations quantized inside the
  // matmul's one launch, the weights streamed with fewer instructions (fused_decode.hpp), where the
  // row fits its shared memory, Q8_0 rows are whole 16-byte vectors (a multiple of 256 weights)
  // and the weights are 16-byte aligned (hip_device::takes_fused_decode). 0: the warps the GPU
  // holds divided by the format's task::resident_warps_per_min_row (fused_decode.hpp: a quarter
  // of them for Q4_K and Q8_0, half for Q6_K; with fewer rows most of the kernel's warps would
  // have no row to stream).
  std::size_t fused_decode_min_rows = 0;
  // Copied mode: a call of an element-wise kernel, a norm, rope, softmax or an embedding lookup
  // with at most this much work runs on the host (the reference kernels),
  // counted in output values, each transcendental one (activations, soft-cap, softmax) as
  // hip_device::transcendental_cost. Staging and waiting for a GPU call costs ~20-25 µs on the H100
  // whatever its size, while the host adds or normalises a few thousand values in 1-3 µs: a decode
  // step makes hundreds of such calls (docs/performance.md). Row gathers and scatters run on the
  // host at any size (hip_device::moves_rows_on_host). 0: every call on the GPU.
  std::size_t host_call_max_values = 8192;
  // Matmuls of at least this many activation rows (a grouped matmul's largest group) of a format
  // with integer codes run on the GPU's matrix units where it has them (NVIDIA sm_80+, AMD gfx11):
  // f16 tiles (tile_matmul.hpp) instead of int8 or f32 activations. 0: never.
  std::size_t matrix_unit_min_tokens = 32;
  // ... and only when the tile grid's warps are at least 1/this of the warps the GPU holds: a block
  // walks whole rows, so a grid smaller than the GPU leaves it idle (H100, 32 tokens: 4096x14336
  // took 247 µs on 64 blocks against 219 with int8 activations, 10240x2560 60 against 87 on 160
  // blocks; docs/performance.md). 0: any grid.
  std::size_t matrix_unit_min_warps_share = 8;
  // Copied and registered modes: the results of calls stay on the GPU, where later calls read
  // them, and calls return without waiting for the GPU; a result reaches host memory when the host
  // asks for it (host_access, synchronize: device_policy in concepts.hpp). Small calls and row moves
  // then run on the GPU too (host_call_max_values no longer applies). The library's blocks and
  // example models announce their host accesses; code that reads or writes activations on the host
  // between calls without host_access() needs this off, where every call returns with its outputs
  // in host memory.
  bool resident_activations = false;
  // With resident_activations: the host memory of every result the GPU holds is filled with a NaN
  // pattern, and a call or host_access() that meets a held result whose host memory no longer holds
  // the pattern throws. A block that writes activations on the host without host_access() then
  // fails, and one that reads them reads NaN (for tests).
  bool check_host_access = false;
  // A kernel may start while the one before it on the stream ends (its blocks take the places the
  // other's finished blocks free; the fused decode kernel's first weight loads go out before it
  // waits for its input): programmatic dependent launch on NVIDIA sm_90+, nothing on HIP
  // (gpu::launch_after_previous). Off: every kernel starts after the one before has finished.
  bool overlap_launches = true;
  // With overlap_launches: kernels overlap only in batches of at most this many tokens (decode,
  // speculative verification), where a step is hundreds of short kernels; a larger batch (prefill)
  // launches plainly, where overlapping measured 5-15 % slower (sessions 26, 28). A batch's size is
  // that of its latest embedding or matmul call (a grouped matmul's: all its groups' rows, tokens ×
  // experts per token); the calls between take it from them.
  std::size_t overlap_max_tokens = 16;
};

// What a matmul multiplies its weights with (hip_device::matmul_path).
enum class matmul_activations { f32, int8, f16_tiles };

class hip_device {
 public:
  using memory_space = host_memory;
  static constexpr std::string_view name = "hip";
  // Longest weight row a matmul takes (hip_kernels::row_index: its bytes in 32 bits, F32 included).
  static constexpr std::size_t max_row_length = std::size_t{1} << 28;
  // Tokens whose activations one warp multiplies per decoded weight unit in a prefill matmul.
  static constexpr int token_tile = 8;
  // Bytes of weights each lane of a matmul has in flight per chunk (hip_kernels::weight_chunk).
  static constexpr int stage_lane_bytes = 32;
  // Shared memory a fused decode block may take (all GPUs of both vendors give a block 48 KiB).
  static constexpr std::size_t fused_decode_max_shared_bytes = std::size_t{48} << 10;
  // What one value of an activation, soft-cap or softmax costs the host against one of a norm or
  // an addition (the reference kernels on the development VM, per value: gelu-tanh ~10 ns, rmsnorm
  // ~1, add ~0.3), so that the largest call host_call_max_values sends to the host takes ~10 µs,
  // half of what staging a GPU call costs.
  static constexpr std::size_t transcendental_cost = 8;
  // Page-locked host memory per policy object through which copied mode stages a call's pieces
  // (`call`): room for a decode step's activations and the KV blocks it writes.
  static constexpr std::size_t pinned_staging_bytes = std::size_t{16} << 20;
  // Weight rows per warp in a decode matmul with f32 activations. Two rows share each activation
  // load, which pays only where decoding is compute-bound (IQ4_XS's and MXFP4's float table
  // lookups: 1.2-1.45x on the H100); elsewhere it halves the warps and was up to 1.8x slower, and
  // with int8 activations one row per warp is faster for those two as well (docs/performance.md).
  // Small matrices keep one row per warp so enough warps stay busy.
  template <block_format Format>
  static constexpr int decode_rows_per_warp(std::size_t rows, bool int8) noexcept {
    constexpr bool table_lookup = std::is_same_v<Format, iq4_xs_format> || std::is_same_v<Format, mxfp4_format>;
    return table_lookup && !int8 && rows >= 4096 ? 2 : 1;
  }

  // Warps sharing each row of a decode matmul with `rows` rows: the fewest (a power of two, at most
  // a block's) that give at least a quarter of the warps the GPU holds at once (`resident_warps`).
  // Measured on the H100 (docs/performance.md): an expert's 704 rows decode up to 1.45x faster with
  // 4 warps per row than with 1, while 4096 rows and more are fastest with one (splitting a row
  // then only adds the partial-sum exchange: 10240x2560 Q4_K 16.8 µs with 1, 30.0 with 4).
  static constexpr int decode_warps_per_row(std::size_t rows, std::size_t resident_warps) noexcept {
    int warps = 1;
    while (warps < hip_kernels::warps_per_block && rows * static_cast<std::size_t>(warps) * 4 < resident_warps) warps *= 2;
    return warps;
  }

  // Formats whose matmul can take int8 activations: every block format (hip_kernels::gpu_codes).
  template <block_format Format>
  static constexpr bool int8_matmul() noexcept {
    return hip_kernels::has_gpu_codes<Format>;
  }

  explicit hip_device(hip_options options = {})
      : device_(options.device),
        int8_activations_(options.int8_activations),
        int8_decode_min_weights_(options.int8_decode_min_weights),
        fused_decode_min_rows_(options.fused_decode_min_rows),
        forced_warps_per_row_(options.decode_warps_per_row),
        host_call_max_values_(options.host_call_max_values),
        matrix_unit_min_tokens_(options.matrix_unit_min_tokens),
        matrix_unit_min_warps_share_(options.matrix_unit_min_warps_share),
        check_host_access_(options.check_host_access),
        overlap_launches_(options.overlap_launches),
        overlap_max_tokens_(options.overlap_max_tokens),
        overlap_now_(options.overlap_launches) {
    if (forced_warps_per_row_ != 0 && forced_warps_per_row_ != 1 && forced_warps_per_row_ != 2 && forced_warps_per_row_ != 4 &&
        forced_warps_per_row_ != 8) {
      throw error(error_category::device, "hip_options::decode_warps_per_row is " + std::to_string(forced_warps_per_row_) +
                                              "; it must be 1, 2, 4, 8 or 0 (automatic)");
    }
    int count = 0;
    gpu::check(gpu::device_count(&count), "counting GPUs");
    if (device_ < 0 || device_ >= count) {
      throw error(error_category::device, "GPU " + std::to_string(device_) + " does not exist (" + std::to_string(count) + " found)");
    }
    gpu::check(gpu::set_device(device_), "selecting the GPU");
    gpu::check(gpu::device_name(device_, device_name_), "reading the GPU's properties");
    int pageable = 0;
    int integrated = 0;
    gpu::check(gpu::pageable_memory_access(device_, &pageable), "querying pageable memory access");
    gpu::check(gpu::integrated(device_, &integrated), "querying whether the GPU is integrated");
    gpu::check(gpu::resident_warps(device_, &resident_warps_), "querying the GPU's size");
    gpu::check(gpu::multiprocessors(device_, &multiprocessors_), "querying the GPU's size");
    gpu::check(gpu::has_matrix_units(device_, &matrix_units_), "querying the GPU's architecture");
    const std::string kind = integrated != 0 ? "integrated GPU (unified memory)" : "discrete GPU";
    if (options.memory == hip_memory_mode::automatic) {
      mode_ = pageable != 0 ? hip_memory_mode::direct : integrated != 0 ? hip_memory_mode::registered : hip_memory_mode::copied;
      reason_ = device_name_ + ", " + kind + ": " +
                (pageable != 0    ? "reads pageable host memory, so weights are used where they lie"
                 : integrated != 0 ? "cannot read pageable host memory, so model files are registered with the GPU and their "
                                     "weights used where they lie (no second copy), activations staged per call"
                                   : "cannot read pageable host memory, so weights are uploaded once and activations staged "
                                     "per call");
    } else {
      if (options.memory == hip_memory_mode::direct && pageable == 0) {
        throw error(error_category::device, device_name_ + " cannot read pageable host memory: direct mode is impossible "
                                            "(on an APU, set HSA_XNACK=1; otherwise use copied)");
      }
      mode_ = options.memory;
      reason_ = device_name_ + ", " + kind + ": " + std::string(to_string(mode_)) + " chosen by the caller";
    }
    resident_activations_ = options.resident_activations && stages_activations();
    gpu::check(gpu::stream_create(&stream_), "creating a GPU stream");
    if (stages_activations()) {
      void* host = nullptr;
      gpu::check(gpu::allocate_pinned(&host, pinned_staging_bytes),
                 ("allocating " + std::to_string(pinned_staging_bytes) + " bytes of page-locked host memory to stage through").c_str());
      staging_ = static_cast<std::byte*>(host);
    }
  }

  hip_device(const hip_device&) = delete;
  hip_device& operator=(const hip_device&) = delete;
  ~hip_device() {
    discard_activations();
    for (const held_memory& chunk : held_memory_) (void)gpu::release(chunk.memory);
    forget_weights();
    forget_host_regions();
    forget_kv_caches();
    release_arena();
    if (staging_ != nullptr) (void)gpu::release_pinned(staging_);
    (void)gpu::stream_destroy(stream_);
  }

  [[nodiscard]] hip_memory_mode memory_mode() const noexcept { return mode_; }
  [[nodiscard]] bool int8_activations() const noexcept { return int8_activations_; }
  // Whether the GPU has matrix units the tile matmul uses (mma on NVIDIA sm_80+, WMMA on gfx11).
  [[nodiscard]] bool has_matrix_units() const noexcept { return matrix_units_; }
  // What a matmul of `tokens` activation rows (a grouped one's largest group) by a rows × row_length
  // matrix of Format (all slices' rows) multiplies: f16 tiles on the matrix units
  // (hip_options::matrix_unit_min_tokens, matrix_unit_min_warps_share),
  // int8 activations (int8_activations, int8_decode_min_weights), else f32 ones.
  template <block_format Format>
  [[nodiscard]] matmul_activations matmul_path(std::size_t tokens, std::size_t rows, std::size_t row_length) const noexcept {
    if (!int8_matmul<Format>()) return matmul_activations::f32;
    if (matrix_units_ && matrix_unit_min_tokens_ != 0 && tokens >= matrix_unit_min_tokens_) {
      const dim3 grid = hip_kernels::tile_grid(rows, tokens, 1);
      const std::size_t tile_warps = std::size_t{grid.x} * grid.y * hip_kernels::warps_per_block;
      if (matrix_unit_min_warps_share_ == 0 || tile_warps * matrix_unit_min_warps_share_ >= resident_warps_) return matmul_activations::f16_tiles;
    }
    return int8_activations_ && (tokens > 1 || rows * row_length >= int8_decode_min_weights_) ? matmul_activations::int8
                                                                                             : matmul_activations::f32;
  }
  // Whether a decode matmul with int8 activations of a rows × row_length matrix of Format runs the
  // fused decode kernel (hip_options::fused_decode_min_rows), given 16-byte-aligned weights.
  template <block_format Format>
  [[nodiscard]] bool takes_fused_decode(std::size_t rows, std::size_t row_length) const noexcept {
    if constexpr (hip_kernels::has_fused_decode<Format>) {
      using task = hip_kernels::fused_decode_task<Format>;
      const std::size_t min_rows =
          fused_decode_min_rows_ != 0 ? fused_decode_min_rows_ : std::max<std::size_t>(1, resident_warps_ / task::resident_warps_per_min_row);
      return rows >= min_rows && task::takes(row_length) &&
             hip_kernels::fused_decode_shared_bytes<task>(row_length) <= fused_decode_max_shared_bytes;
    } else {
      return false;
    }
  }
  [[nodiscard]] const std::string& memory_mode_reason() const noexcept { return reason_; }
  // Whether a call producing `values` output values, each costing `cost` additions, runs on the host
  // (hip_options::host_call_max_values).
  [[nodiscard]] bool runs_on_host(std::size_t values, std::size_t cost = 1) const noexcept {
    return stages_activations() && !resident_activations_ && values * cost <= host_call_max_values_;
  }
  // Whether calls copy their activations to the GPU and back (copied and registered modes).
  [[nodiscard]] bool stages_activations() const noexcept { return mode_ != hip_memory_mode::direct; }
  // Whether row gathers and scatters run on the host: in copied mode, unless host_call_max_values
  // is 0. They only move data, which staging would move over PCIe twice (in and back) where the
  // host moves it once in memory: an expert dispatch's gather of 8 rows of 2816 took 44 µs as a GPU
  // call on the H100 (docs/performance.md).
  [[nodiscard]] bool moves_rows_on_host() const noexcept {
    return stages_activations() && !resident_activations_ && host_call_max_values_ != 0;
  }
  // Whether results stay on the GPU between calls (hip_options::resident_activations, in copied and
  // registered modes), and the bytes of host memory whose values the GPU holds now.
  [[nodiscard]] bool resident_activations() const noexcept { return resident_activations_; }
  [[nodiscard]] std::size_t held_result_bytes() const noexcept {
    std::size_t bytes = 0;
    for (const auto& [begin, result] : held_) bytes += result.end - begin;
    return bytes;
  }

  // device_policy's host access (concepts.hpp). With resident activations, the results the GPU
  // holds in any of `values`' memory come back to host memory, and the GPU forgets them (the host
  // may now write there); otherwise every call has already returned its results. Memory no held
  // result overlaps costs no wait: queued calls write only held results' device memory, and read
  // only what was staged when they were queued.
  void host_access(std::span<const float> values) {
    if (return_held(values)) finish_waiting();
  }
  // Every result the GPU holds comes back to host memory; the GPU has finished every call.
  void synchronize() {
    return_held(0, std::numeric_limits<std::uintptr_t>::max());
    finish_waiting();
  }
  // Forgets the results the GPU holds without returning them (their host memory may be gone).
  // KV rows written on the GPU and not yet back in their cache are forgotten too.
  void discard_activations() noexcept {
    if (held_.empty() && kv_returns_.empty()) return;
    (void)gpu::stream_synchronize(stream_);
    drop_kv_returns();
    pinned_used_ = 0;
    held_.clear();
    reuse_held_memory();
  }
  [[nodiscard]] std::size_t uploaded_weight_bytes() const noexcept { return uploaded_bytes_; }
  // Host memory registered with the GPU (registered mode): the regions use_in_place() was given.
  [[nodiscard]] std::size_t registered_bytes() const noexcept {
    std::size_t bytes = 0;
    for (const auto& [begin, region] : host_regions_) bytes += region.end - begin;
    return bytes;
  }

  // Host memory the runtime refused to register (registered mode): the weights in it are uploaded
  // instead, as in copied mode. refusal() is the runtime's reason for the last refusal.
  [[nodiscard]] std::size_t refused_bytes() const noexcept {
    std::size_t bytes = 0;
    for (const auto& [begin, end] : refused_regions_) bytes += end - begin;
    return bytes;
  }
  [[nodiscard]] const std::string& refusal() const noexcept { return refusal_; }

  // Registered mode: from now on kernels read weights lying in `bytes` (a mapped model file, memory
  // holding nothing but weights) in place; true when they do. The memory must stay mapped and
  // unchanged until forget_host_regions() or the policy's end, as a loaded model's does. A range
  // within one already registered costs a lookup; one overlapping others replaces them (their
  // memory may have been unmapped and mapped anew). A range the runtime refuses (a read-only
  // mapping where it lacks a read-only flag, as HIP before 6 does) is left out and counted in
  // refused_bytes(); offered again, it is not retried. Other modes ignore the call (false).
  bool use_in_place(std::span<const std::byte> bytes) {
    if (mode_ != hip_memory_mode::registered || bytes.empty()) return false;
    const auto begin = reinterpret_cast<std::uintptr_t>(bytes.data());
    if (const auto refused = refused_regions_.find(begin); refused != refused_regions_.end() && refused->second == begin + bytes.size()) {
      return false;
    }
    if (in_place(bytes.data(), bytes.size(), overlap::replace) != nullptr) return true;
    refused_regions_[begin] = begin + bytes.size();
    return false;
  }

  // Unregisters the regions use_in_place() registered and forgets the refused ones (registered mode).
  void forget_host_regions() noexcept {
    (void)gpu::stream_synchronize(stream_);
    for (const auto& [begin, region] : host_regions_) (void)gpu::unregister_host(reinterpret_cast<const void*>(begin));
    host_regions_.clear();
    refused_regions_.clear();
  }
  [[nodiscard]] std::size_t resident_warps() const noexcept { return resident_warps_; }
  // What a decode matmul with `rows` rows uses on this GPU (hip_options::decode_warps_per_row, or
  // the automatic choice).
  [[nodiscard]] int decode_warps_per_row(std::size_t rows) const noexcept {
    return forced_warps_per_row_ != 0 ? forced_warps_per_row_ : decode_warps_per_row(rows, resident_warps_);
  }

  // Frees the GPU's copies of KV caches (copied mode): the policy keeps one per cache it has seen
  // until then, or until it is destroyed. Later calls upload again. Rows written on the GPU and not
  // yet back in their caches go back first, so those caches must still exist (after synchronize(),
  // none are due).
  void forget_kv_caches() noexcept {
    (void)gpu::stream_synchronize(stream_);
    try {
      return_kv_rows();
    } catch (const error&) {
      drop_kv_returns();
    }
    for (auto& [host, mirror] : kv_mirrors_) (void)gpu::release(mirror.device);
    kv_mirrors_.clear();
  }

  // Frees the uploaded copies of weights and constant vectors (copied and registered modes); later
  // calls upload again.
  void forget_weights() noexcept {
    for (auto& [host, copy] : uploads_) (void)gpu::release(copy.device);
    uploads_.clear();
    uploaded_bytes_ = 0;
    (void)gpu::stream_synchronize(stream_);
    for (auto& [host, copy] : constants_) (void)gpu::release(copy.device);
    constants_.clear();
    constant_bytes_ = 0;
    release_retired_constants();
  }
  // Bytes of constant vectors (norm weights, RoPE frequencies) on the GPU (call::stage_constant).
  [[nodiscard]] std::size_t uploaded_constant_bytes() const noexcept { return constant_bytes_; }

  void plan(const kernel_limits& limits) {
    // A matmul's staged input and output rows and its int8 or f16 activations, and room for the
    // small per-call vectors beside them.
    const std::size_t floats = limits.max_tokens * (2 * limits.max_row_length + 64) + 4096;
    ensure_arena(floats * sizeof(float) + std::max(q8_activation_bytes(limits.max_tokens, limits.max_row_length),
                                                   f16_activation_bytes(limits.max_tokens, limits.max_row_length)));
  }

  template <block_format Format>
  void matmul(const quantized_view<Format>& w, matrix_view<const float> x, matrix_view<float> y) {
    const matmul_group whole{0, x.extent(0)};
    check_matmul_groups(w.rows(), w.row_length(), std::span(&whole, 1), x, y, "hip matmul");
    if constexpr (hip_kernels::has_gpu_decoder<Format>) {
      multiply(w, x, y, {}, x.extent(0));
    } else {
      on_host(x, y);
      reference_kernels::matmul(w, x, y);
    }
  }

  // ya = a · x and yb = b · x, two matrices of one format and row length (a gated FFN's gate and
  // up): one token whose matrices each take the fused decode kernel multiplies both in one launch,
  // which saves a launch and streams twice the bytes a launch (an FFN-sized launch pays a few µs
  // beyond its bytes, docs/performance.md); anything else is two matmuls.
  template <block_format Format>
  void matmul_pair(const quantized_view<Format>& a, const quantized_view<Format>& b, matrix_view<const float> x, matrix_view<float> ya,
                   matrix_view<float> yb) {
    const matmul_group whole{0, x.extent(0)};
    check_matmul_groups(a.rows(), a.row_length(), std::span(&whole, 1), x, ya, "hip matmul");
    check_matmul_groups(b.rows(), b.row_length(), std::span(&whole, 1), x, yb, "hip matmul");
    if constexpr (hip_kernels::has_fused_decode<Format>) {
      if (fused_decode_pair(a, b, x, ya, yb)) return;
    }
    matmul(a, x, ya);
    matmul(b, x, yb);
  }

  // Every group in one launch: its blocks along z take one group each (a decode step's routed
  // experts, or a prefill batch's rows sorted by expert).
  template <block_format Format>
  void grouped_matmul(const quantized_view<Format>& w, std::span<const matmul_group> groups, matrix_view<const float> x,
                      matrix_view<float> y) {
    check_matmul_groups(w.rows(), w.row_length(), groups, x, y, "hip grouped matmul");
    if constexpr (hip_kernels::has_gpu_decoder<Format>) {
      if (x.extent(0) > std::numeric_limits<std::uint32_t>::max() || w.rows() > std::numeric_limits<std::uint32_t>::max()) {
        throw error(error_category::shape, "hip grouped matmul: the GPU kernel counts rows in 32 bits");
      }
      group_rows_.clear();
      std::size_t largest = 0;
      for (std::size_t g = 0, first = 0; g < groups.size(); first += groups[g++].rows) {
        if (groups[g].rows == 0) continue;
        group_rows_.push_back({static_cast<std::uint32_t>(groups[g].weight_row), static_cast<std::uint32_t>(first),
                               static_cast<std::uint32_t>(groups[g].rows)});
        largest = std::max(largest, groups[g].rows);
      }
      multiply(w, x, y, group_rows_, largest);
    } else {
      on_host(x, y);
      reference_kernels::grouped_matmul(w, groups, x, y);
    }
  }

  template <block_format Format>
  void embedding(const quantized_view<Format>& table, std::span<const std::int32_t> tokens, float scale, matrix_view<float> out) {
    for (std::int32_t id : tokens) {
      if (id < 0 || static_cast<std::size_t>(id) >= table.rows()) {
        throw error(error_category::shape, "embedding: token id " + std::to_string(id) + " is outside the table's " +
                                               std::to_string(table.rows()) + " rows");
      }
    }
    if constexpr (hip_kernels::has_gpu_decoder<Format>) {
      if (tokens.empty()) return;
      start_batch(tokens.size());
      if (runs_on_host(tokens.size() * table.row_length())) return reference_kernels::embedding(table, tokens, scale, out);
      call c(*this, staged_bytes(out) + tokens.size_bytes());
      const auto* weights = resident(table);
      const auto* ids = c.stage_in(tokens);
      const auto y = c.stage_out(out);
      const dim3 grid(static_cast<unsigned>(std::min<std::size_t>((table.row_length() + 255) / 256, 64)),
                      static_cast<unsigned>(tokens.size()));
      launch("launching embedding_kernel", hip_kernels::embedding_kernel<Format>, grid, weights, table.row_length(), ids, tokens.size(),
             scale, y.data, y.stride);
      c.finish("embedding", out, y);
    } else {
      on_host(out);
      reference_kernels::embedding(table, tokens, scale, out);
    }
  }

  void rmsnorm(matrix_view<const float> x, std::span<const float> weight, norm_weight kind, float eps, matrix_view<float> y) {
    if (x.extent(0) == 0) return;
    if (runs_on_host(x.extent(0) * x.extent(1))) return reference_kernels::rmsnorm(x, weight, kind, eps, y);
    norm_rows("rmsnorm", x, weight, kind, eps, y, false, 1.0f);
  }
  void rmsnorm_add(matrix_view<const float> x, std::span<const float> weight, norm_weight kind, float eps, float scale,
                   matrix_view<float> residual) {
    reference_kernels::check_rmsnorm_add_shapes(x, weight, kind, residual);
    if (x.extent(0) == 0) return;
    if (runs_on_host(x.extent(0) * x.extent(1))) return reference_kernels::rmsnorm_add(x, weight, kind, eps, scale, residual);
    norm_rows("rmsnorm_add", x, weight, kind, eps, residual, true, scale);
  }

  void rope(tensor_view<float, 3> x, std::span<const std::int32_t> positions, rope_frequencies freq) {
    const std::size_t half = freq.inv_freq.size();
    if (x.extent(0) == 0 || x.extent(1) == 0 || half == 0) return;
    if (x.stride(2) != 1 || x.stride(0) != x.extent(1) * x.stride(1)) {
      throw error(error_category::shape, "hip rope: heads must be contiguous rows of a [token][head][dim] tensor");
    }
    if (runs_on_host(x.extent(0) * x.extent(1) * x.extent(2))) return reference_kernels::rope(x, positions, freq);
    const matrix_view<float> rows(x.data(), {x.extent(0), x.extent(1) * x.stride(1)});
    call c(*this, staged_bytes(rows) + positions.size_bytes() + freq.inv_freq.size_bytes());
    const auto data = c.stage_in_out(rows);
    const auto* pos = c.stage_in(positions);
    const auto* inv_freq = c.stage_constant(freq.inv_freq);
    const std::size_t threads = x.extent(0) * x.extent(1) * half;
    launch("launching rope_kernel", hip_kernels::rope_kernel<hip_kernels::block_threads>, blocks_for(threads), data.data, data.stride,
           x.stride(1), x.extent(0), x.extent(1), pos, inv_freq, half);
    c.finish("rope", rows, data);
  }

  void apply_activation(activation act, std::span<const float> x, std::span<float> y) {
    if (runs_on_host(y.size(), transcendental_cost)) return reference_kernels::apply_activation(act, x, y);
    elementwise_call<1>("activation", y, {x}, [&](const auto& in, float* out) {
      launch("launching activation_kernel", hip_kernels::activation_kernel<hip_kernels::block_threads>, blocks_for(y.size()), act, in[0],
             nullptr, out, y.size());
    });
  }
  void gated_activation(activation act, std::span<const float> gate, std::span<const float> up, std::span<float> out) {
    if (runs_on_host(out.size(), transcendental_cost)) return reference_kernels::gated_activation(act, gate, up, out);
    elementwise_call<2>("gated activation", out, {gate, up}, [&](const auto& in, float* result) {
      launch("launching activation_kernel", hip_kernels::activation_kernel<hip_kernels::block_threads>, blocks_for(out.size()), act, in[0],
             in[1], result, out.size());
    });
  }
  void softcap(std::span<float> x, float cap) {
    if (runs_on_host(x.size(), transcendental_cost)) return reference_kernels::softcap(x, cap);
    in_place(hip_kernels::elementwise::softcap, x, cap);
  }
  void scale(std::span<float> x, float factor) {
    if (runs_on_host(x.size())) return reference_kernels::scale(x, factor);
    in_place(hip_kernels::elementwise::scale, x, factor);
  }
  // out = in. Only resident activations copy on the GPU; otherwise the host copies once, in memory,
  // what staging would move over the bus twice.
  void copy(matrix_view<const float> in, matrix_view<float> out) {
    reference_kernels::check_copy_shapes(in, out);
    if (in.empty()) return;
    if (!resident_activations_) return reference_kernels::copy(in, out);
    call c(*this, staged_bytes(in) + staged_bytes(out));
    const auto from = c.stage_in(in);
    const auto to = c.stage_out(out);
    gpu::check(gpu::copy_2d_async(to.data, to.stride * sizeof(float), from.data, from.stride * sizeof(float), in.extent(1) * sizeof(float),
                                  in.extent(0), gpu::copy_device_to_device, stream_),
               "copying rows on the GPU");
    c.finish("copy", out, to);
  }
  void add(std::span<const float> a, std::span<const float> b, std::span<float> out) {
    if (runs_on_host(out.size())) return reference_kernels::add(a, b, out);
    elementwise_call<2>("add", out, {a, b}, [&](const auto& in, float* result) {
      launch("launching elementwise_kernel", hip_kernels::elementwise_kernel<hip_kernels::block_threads>, blocks_for(out.size()),
             hip_kernels::elementwise::add, in[0], in[1], 0.0f, result, out.size());
    });
  }

  void gather_rows(matrix_view<const float> x, std::span<const std::int32_t> rows, matrix_view<float> out) {
    if (rows.empty()) return;
    if (moves_rows_on_host()) return reference_kernels::gather_rows(x, rows, out);
    call c(*this, staged_bytes(x) + rows.size_bytes() + staged_bytes(out));
    const auto in = c.stage_in(x);
    const auto* ids = c.stage_in(rows);
    const auto y = c.stage_out(out);
    launch("launching gather_rows_kernel", hip_kernels::gather_rows_kernel<hip_kernels::block_threads>, static_cast<unsigned>(rows.size()),
           in.data, in.stride, ids, x.extent(1), y.data, y.stride);
    c.finish("gather_rows", out, y);
  }

  void scatter_add_rows(matrix_view<const float> x, std::span<const std::int32_t> rows, std::span<const float> weights,
                        matrix_view<float> out) {
    if (rows.empty()) return;
    if (moves_rows_on_host()) return reference_kernels::scatter_add_rows(x, rows, weights, out);
    call c(*this, staged_bytes(x) + rows.size_bytes() + weights.size_bytes() + staged_bytes(out));
    const auto in = c.stage_in(x);
    const auto* ids = c.stage_in(rows);
    const auto* w = c.stage_in(weights);
    const auto y = c.stage_in_out(out);
    launch("launching scatter_add_rows_kernel", hip_kernels::scatter_add_rows_kernel<hip_kernels::block_threads>, blocks_for(x.extent(1)),
           in.data, in.stride, ids, w, rows.size(), x.extent(1), y.data, y.stride);
    c.finish("scatter_add_rows", out, y);
  }

  void softmax(matrix_view<float> rows, float cap) {
    if (rows.extent(0) == 0) return;
    if (runs_on_host(rows.extent(0) * rows.extent(1), transcendental_cost)) return reference_kernels::softmax(rows, cap);
    call c(*this, staged_bytes(rows));
    const auto data = c.stage_in_out(rows);
    launch("launching softmax_kernel", hip_kernels::softmax_kernel<hip_kernels::block_threads>, static_cast<unsigned>(rows.extent(0)),
           data.data, data.stride, rows.extent(1), cap);
    c.finish("softmax", rows, data);
  }

  std::size_t argmax(std::span<const float> x) {
    if (x.empty()) return 0;
    if (runs_on_host(x.size())) return reference_kernels::argmax(x);
    call c(*this, x.size_bytes() + sizeof(std::int64_t));
    const auto* in = c.stage_in(x);
    auto* result = c.template scratch<std::int64_t>(1);
    launch("launching argmax_kernel", hip_kernels::argmax_kernel<hip_kernels::block_threads>, 1, in, x.size(), result);
    std::int64_t index = 0;
    gpu::check(gpu::copy_async(&index, result, sizeof index, gpu::copy_device_to_host, stream_), "argmax: copying the result");
    c.returns_to_host();
    c.finish("argmax");
    return static_cast<std::size_t>(index);
  }

  // Host fallbacks (see the header comment): what they touch is in host memory first.
  void top_k(matrix_view<const float> x, matrix_view<std::int32_t> indices, matrix_view<float> values) {
    reference_kernels::check_top_k_shapes(x, indices, values, "hip top_k");
    host_access(x.footprint());
    host_access(values.footprint());
    reference_kernels::top_k_rows(x, indices, values);
  }
  // Query heads of one KV head an attention block takes: as many as the kernel allows
  // (hip_kernels::attention_most_heads_per_block) where the call reads enough keys (query rows ×
  // the most keys a row sees, at least attention_shared_min_key_rows) that loading each K and V
  // slice once for them pays, else 1: a few rows over a short context (decode in a sliding window)
  // are bound by each block's chain of dependent steps, which a block of 4 heads makes longer, and
  // by how few blocks run (H100, session 25: a decode row over a 512-key window took 13.7 µs with 1
  // head per block, 17.7 with 4; over 4096 global keys 28.8 with 2, 38.9 with 1; docs/performance.md).
  static constexpr std::size_t attention_shared_min_key_rows = 2048;
  static constexpr int attention_heads_per_block(std::size_t group, std::size_t head_dim, std::size_t rows, std::size_t most_keys) noexcept {
    return rows * most_keys >= attention_shared_min_key_rows ? hip_kernels::attention_most_heads_per_block(group, head_dim) : 1;
  }
  // How attention splits each row's keys over blocks: enough blocks for the GPU's `resident_warps`
  // once, each split at least one round of a block's key batches (64 keys), so decode of a long
  // context spreads over the GPU instead of running on a few blocks. `blocks`: rows × groups of
  // query heads (attention_heads_per_block).
  struct attention_split {
    std::size_t count;
    std::size_t keys;  // per split
  };
  static constexpr attention_split attention_splits(std::size_t blocks, std::size_t most_keys, std::size_t resident_warps) noexcept {
    const std::size_t resident_blocks = resident_warps / hip_kernels::warps_per_block;
    const std::size_t most_splits = std::max<std::size_t>(1, most_keys / (hip_kernels::warps_per_block * hip_kernels::attention_key_batch));
    const std::size_t wanted = blocks >= resident_blocks ? 1 : std::min((resident_blocks + blocks - 1) / blocks, most_splits);
    const std::size_t keys = std::max<std::size_t>(1, (most_keys + wanted - 1) / wanted);
    return {std::max<std::size_t>(1, (most_keys + keys - 1) / keys), keys};
  }

  // New K and V rows into a paged cache (hip_kernels::write_kv_kernel: the host's quantizers, bit
  // for bit). Direct mode writes the cache where it lies. Copied and registered modes write the
  // GPU's copy of the cache (first uploading a block whose copy for this layer is stale where the
  // write starts past its first slot), which is then current at the blocks' new stamps, so attention
  // uploads nothing; the written blocks come back to the cache's host memory when the host next
  // waits for the GPU (return_kv_rows: synchronize() at the latest, concepts.hpp).
  void write_kv(const kv_write_args& args) {
    check_kv_write_shapes(args, "hip kv write");
    const kv_layer_view& kv = args.kv;
    const std::size_t rows = args.rows.size();
    if (rows == 0 || kv.kv_heads == 0) return;
    if (rows > std::numeric_limits<std::uint32_t>::max() || kv.kv_heads * kv.head_dim > std::numeric_limits<std::uint32_t>::max()) {
      throw error(error_category::shape, "hip kv write: the GPU kernel counts rows and values in 32 bits");
    }
    const bool copied = mode_ != hip_memory_mode::direct;
    kv_mirror* mirror = copied ? &kv_mirror_for(kv) : nullptr;
    std::vector<std::uint64_t>* uploaded = copied ? &mirror->uploaded_for(kv) : nullptr;
    call c(*this, staged_bytes(args.k) + staged_bytes(args.v) + args.rows.size_bytes());
    if (copied) {
      for (const kv_block_write& w : args.blocks) {
        if (w.first_slot != 0 && (*uploaded)[w.block] != w.stamp_before) upload_kv_block(c, *mirror, kv, w.block);
      }
    }
    const auto k = c.stage_in(args.k);
    const auto v = c.stage_in(args.v);
    const hip_kernels::kv_write_problem problem{k.data,
                                                k.stride,
                                                v.data,
                                                v.stride,
                                                c.stage_in(args.rows),
                                                static_cast<std::uint32_t>(rows),
                                                static_cast<std::uint32_t>(kv.kv_heads),
                                                static_cast<std::uint32_t>(kv.head_dim),
                                                device_kv(kv, copied ? mirror->device : kv.base)};
    visit_kv_type(kv.type, [&]<class Format>() {
      launch("launching write_kv_kernel", hip_kernels::write_kv_kernel<Format, hip_kernels::block_threads>,
             blocks_for(hip_kernels::kv_write_threads<Format>(rows, kv.kv_heads, kv.head_dim)), problem);
    });
    gpu::check(gpu::get_last_error(), "hip kv write");
    if (copied) {
      for (const kv_block_write& w : args.blocks) {
        note_kv_return(*mirror, kv, w.block);
        (*uploaded)[w.block] = w.stamp_after;
      }
    }
    c.finish("kv write");
  }

  // Attention over the paged cache (hip_kernels::attention_kernel). Direct mode reads the cache
  // where it lies. Copied and registered modes keep a copy of the cache's blocks on the GPU (`kv_mirror`, one per
  // cache) and uploads a block's K and V rows of this layer only when the cache's stamp for the block
  // has changed since (kv_layer_view::block_stamps): a decode step uploads the block it wrote.
  template <attention_window Window>
  void attention(const attention_args& args) {
    const kv_layer_view& kv = args.kv;
    const std::size_t rows = args.q.extent(0);
    const std::size_t heads = args.q.extent(1);
    const std::size_t dim = kv.head_dim;
    if (rows == 0 || heads == 0) return;
    if (kv.kv_heads == 0 || heads % kv.kv_heads != 0 || args.q.extent(2) != dim || dim == 0 || dim > max_attention_head_dim ||
        args.out.extents() != args.q.extents()) {
      throw error(error_category::shape, "hip attention: queries [" + std::to_string(rows) + "][" + std::to_string(heads) + "][" +
                                             std::to_string(args.q.extent(2)) + "] do not fit a cache of " + std::to_string(kv.kv_heads) +
                                             " KV heads of dim " + std::to_string(dim) + " (at most " +
                                             std::to_string(max_attention_head_dim) + "), or the output's shape differs");
    }
    const matrix_view<const float> q = rows_of_heads(args.q, "attention");
    const matrix_view<float> out = rows_of_heads(args.out, "attention");
    const bool copied = mode_ != hip_memory_mode::direct;
    kv_mirror* mirror = copied ? &kv_mirror_for(kv) : nullptr;
    std::vector<std::uint64_t>* uploaded = copied ? &mirror->uploaded_for(kv) : nullptr;
    // A call that fails (a bad table, a failed copy) may have noted blocks as uploaded that never
    // were: then every block of this layer is uploaded anew.
    struct forget_on_failure {
      std::vector<std::uint64_t>* uploaded;
      bool done = false;
      ~forget_on_failure() {
        if (!done && uploaded != nullptr) std::fill(uploaded->begin(), uploaded->end(), kv_mirror::never);
      }
    } guard{uploaded};
    attention_rows_.assign(rows, {0, hip_kernels::attention_query_row::no_position});
    attention_tables_.clear();
    kv_uploads_.clear();
    std::size_t claimed_rows = 0;
    std::size_t most_keys = 0;  // the most keys one query row sees
    for (const attention_sequence& seq : args.sequences) {
      if (seq.rows == 0) continue;
      if (seq.first_row + seq.rows > rows || seq.rows > seq.kv.length || seq.kv.length > std::numeric_limits<std::uint32_t>::max()) {
        throw error(error_category::shape, "hip attention: a sequence's query rows " + std::to_string(seq.first_row) + "+" + std::to_string(seq.rows) +
                                               " fall outside the " + std::to_string(rows) + " rows, or its " + std::to_string(seq.kv.length) +
                                               " cached positions do not cover them");
      }
      const std::size_t first_position = seq.kv.length - seq.rows;
      const std::size_t first_block = first_visible_key<Window>(first_position) / kv.block_size;
      most_keys = std::max(most_keys, seq.kv.length - first_visible_key<Window>(seq.kv.length - 1));
      const std::size_t last_block = (seq.kv.length - 1) / kv.block_size;
      const auto table = static_cast<std::uint32_t>(attention_tables_.size());
      for (std::size_t b = 0; b <= last_block; ++b) {
        const kv_block_id id = seq.kv.blocks[b];
        attention_tables_.push_back(id);
        // Blocks no row sees (slid out of the window) are never read. A block that is read must lie
        // in the cache, or the kernel would read past it (a view without a block count, which only
        // direct mode takes, cannot be checked).
        if (b < first_block) continue;
        if (id >= kv.blocks && (kv.blocks != 0 || mode_ != hip_memory_mode::direct)) {
          throw error(error_category::shape, "hip attention: block " + std::to_string(id) + " of a sequence's table is outside the cache's " +
                                                 std::to_string(kv.blocks) + " blocks");
        }
        if (!copied) continue;
        const std::uint64_t stamp = kv.block_stamps != nullptr ? kv.block_stamps[id] : kv_mirror::never;
        if (stamp == kv_mirror::never || (*uploaded)[id] != stamp) {
          kv_uploads_.push_back(id);
          (*uploaded)[id] = stamp;
        }
      }
      for (std::size_t i = 0; i < seq.rows; ++i) {
        attention_rows_[seq.first_row + i] = {table, static_cast<std::uint32_t>(first_position + i)};
      }
      claimed_rows += seq.rows;
    }
    const std::span<const hip_kernels::attention_query_row> query_rows(attention_rows_);
    const std::span<const kv_block_id> tables(attention_tables_);
    const int heads_per_block = attention_heads_per_block(heads / kv.kv_heads, dim, rows, most_keys);
    const std::size_t head_groups = heads / static_cast<std::size_t>(heads_per_block);
    const attention_split split = attention_splits(rows * head_groups, most_keys, resident_warps_);
    const std::size_t partials = split.count > 1 ? rows * heads * split.count : 0;
    call c(*this, staged_bytes(q) + staged_bytes(out) + query_rows.size_bytes() + tables.size_bytes(), partials * (dim + 2) * sizeof(float));
    hip_kernels::attention_problem problem;
    const auto in = c.stage_in(q);
    // Rows no sequence claims keep their values, so then the output goes in as well as out.
    const auto result = claimed_rows == rows ? c.stage_out(out) : c.stage_in_out(out);
    problem.q = device_heads(in, args.q);
    problem.out = device_heads(result, args.out);
    problem.group = static_cast<std::uint32_t>(heads / kv.kv_heads);
    problem.head_dim = static_cast<std::uint32_t>(dim);
    problem.rows = c.stage_in(query_rows);
    problem.tables = c.stage_in(tables);
    for (const kv_block_id id : kv_uploads_) upload_kv_block(c, *mirror, kv, id);
    problem.kv = device_kv(kv, static_cast<const std::byte*>(copied ? mirror->device : kv.base));
    problem.scale = args.scale;
    problem.softcap = args.softcap;
    problem.splits = static_cast<std::uint32_t>(split.count);
    problem.keys_per_split = static_cast<std::uint32_t>(split.keys);
    problem.heads = static_cast<std::uint32_t>(heads);
    if (partials != 0) {
      problem.partial_max = c.template scratch<float>(partials);
      problem.partial_sum = c.template scratch<float>(partials);
      problem.partial_acc = c.template scratch<float>(partials * dim);
    }
    const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(head_groups), static_cast<unsigned>(split.count));
    visit_kv_type(kv.type, [&]<class Format>() {
      hip_kernels::with_attention_cut(heads_per_block, dim, [&](auto heads_per_block_, auto lane_slices) {
        launch("launching attention_kernel",
               hip_kernels::attention_kernel<Format, Window::size, hip_kernels::block_threads, decltype(heads_per_block_)::value, decltype(lane_slices)::value>,
               grid, problem);
      });
    });
    if (partials != 0) launch("launching attention_combine_kernel", hip_kernels::attention_combine_kernel<hip_kernels::block_threads>,
                              dim3(static_cast<unsigned>(rows), static_cast<unsigned>(heads)), problem);
    c.finish("attention", out, result);
    guard.done = true;
  }
  // Gated DeltaNet: the recurrence token by token (hip_kernels::deltanet_kernel) for decode, the
  // chunked form (deltanet_chunk_kernel) for prefill, in chunks of deltanet_chunk_tokens whatever
  // `chunk` asks (the result is the same up to rounding; the GPU's chunk is bounded by shared
  // memory). Key heads longer than deltanet_chunk_max_key_dim take the recurrent kernel, longer
  // than deltanet_max_key_dim the reference.
  void deltanet_recurrent(const deltanet_args& args) { deltanet(args, false); }
  void deltanet_chunked(const deltanet_args& args, std::size_t /*chunk*/) { deltanet(args, true); }

 private:
  // y = w · x (no groups: y as wide as w), or each group's slice of w by its rows of x; `tile_tokens`:
  // x's rows, or the largest group's. Shapes are checked by the caller.
  template <block_format Format>
  void multiply(const quantized_view<Format>& w, matrix_view<const float> x, matrix_view<float> y,
                std::span<const hip_kernels::matmul_group_rows> groups, std::size_t tile_tokens) {
    const std::size_t tokens = x.extent(0);
    const std::size_t rows = y.extent(1);
    const std::size_t row_length = w.row_length();
    if (tokens == 0 || rows == 0) return;
    start_batch(tokens);
    if (row_length > max_row_length) {
      throw error(error_category::shape, "hip matmul: rows of " + std::to_string(row_length) +
                                             " weights; the GPU kernels index a row's bytes in 32 bits, so at most " +
                                             std::to_string(max_row_length) + " weights");
    }
    const std::size_t slices = std::max<std::size_t>(groups.size(), 1);
    const matmul_activations path = matmul_path<Format>(tile_tokens, rows * slices, row_length);
    const std::size_t scratch_bytes = path == matmul_activations::int8        ? q8_activation_bytes(tokens, row_length)
                                      : path == matmul_activations::f16_tiles ? f16_activation_bytes(tokens, row_length)
                                                                              : 0;
    call c(*this, staged_bytes(x) + staged_bytes(y) + groups.size_bytes() + 256, scratch_bytes);
    const auto* weights = resident(w);
    const auto* device_groups = groups.empty() ? nullptr : c.stage_in(groups);
    const auto in = c.stage_in(x);
    const auto out = c.stage_out(y);
    const hip_kernels::matmul_output o{out.data, out.stride, tokens};
    const matmul_shape shape{rows, tile_tokens, slices, row_length};
    if constexpr (int8_matmul<Format>()) {
      if (path == matmul_activations::f16_tiles) {
        auto* halves = c.template scratch<std::uint16_t>(tokens * row_length);
        auto* restore = c.template scratch<float>(tokens);
        launch("launching half_rows_kernel", hip_kernels::half_rows_kernel<hip_kernels::block_threads>, dim3(static_cast<unsigned>(tokens)),
               in.data, in.stride, row_length, halves, restore);
        launch("launching tile_matmul_kernel", hip_kernels::tile_matmul_kernel<Format>, hip_kernels::tile_grid(rows, tile_tokens, slices),
               weights, rows, row_length, halves, restore, o, device_groups);
        c.finish("matmul", y, out);
        return;
      }
      if (path == matmul_activations::int8) {
        if constexpr (hip_kernels::has_fused_decode<Format>) {
          if (groups.empty() && tokens == 1) {
            if (const unsigned blocks = fused_decode_blocks<Format>(rows, row_length, {weights})) {
              launch_fused_decode<Format>(blocks, {.first = reinterpret_cast<const std::uint8_t*>(weights), .first_out = out.data, .first_rows = rows},
                                          rows, row_length, in.data);
              c.finish("matmul", y, out);
              return;
            }
          }
        }
        auto* codes = c.template scratch<std::int8_t>(tokens * row_length);
        auto* units = c.template scratch<hip_kernels::q8_unit>(tokens * row_length / hip_kernels::unit_size);
        launch("launching quantize_q8_kernel", hip_kernels::quantize_q8_kernel<hip_kernels::block_threads>,
               blocks_for(hip_kernels::quantize_q8_threads(tokens, row_length)), in.data, in.stride, tokens, row_length, codes, units);
        matmul_launch<Format>(shape, weights, hip_kernels::q8_activations{codes, units, row_length}, o, device_groups);
        c.finish("matmul", y, out);
        return;
      }
    }
    if (in.stride % 4 == 0 && reinterpret_cast<std::uintptr_t>(in.data) % 16 == 0) {
      matmul_launch<Format>(shape, weights, hip_kernels::f32_activations<true>{in.data, in.stride}, o, device_groups);
    } else {
      matmul_launch<Format>(shape, weights, hip_kernels::f32_activations<false>{in.data, in.stride}, o, device_groups);
    }
    c.finish("matmul", y, out);
  }

  // Blocks of a fused decode launch (hip_kernels::fused_decode_kernel) over `rows` rows of
  // `row_length`, or 0 where it does not apply (takes_fused_decode, 16-byte-aligned weights, a GPU
  // that holds one of its blocks).
  template <class Format>
  unsigned fused_decode_blocks(std::size_t rows, std::size_t row_length, std::initializer_list<const typename Format::block_type*> weights) {
    using namespace hip_kernels;
    using task = fused_decode_task<Format>;
    if (!takes_fused_decode<Format>(rows, row_length)) return 0;
    for (const auto* w : weights) {
      if (reinterpret_cast<std::uintptr_t>(w) % 16 != 0) return 0;
    }
    const std::size_t shared_bytes = fused_decode_shared_bytes<task>(row_length);
    const auto kernel = fused_decode_kernel<task>;
    auto [known, fresh] = fused_decode_blocks_.try_emplace({reinterpret_cast<const void*>(kernel), shared_bytes}, 0);
    if (fresh) {
      int per_unit = 0;
      gpu::check(gpu::resident_blocks(kernel, fused_decode_threads, shared_bytes, &per_unit), "querying a kernel's occupancy");
      known->second = static_cast<std::size_t>(per_unit) * static_cast<std::size_t>(multiprocessors_);
    }
    constexpr std::size_t warps = fused_decode_threads / gpu::warp_size;
    return static_cast<unsigned>(std::min((rows + warps - 1) / warps, known->second));
  }
  template <class Format>
  void launch_fused_decode(unsigned blocks, const hip_kernels::decode_matrices& matrices, std::size_t rows, std::size_t row_length,
                           const float* x) {
    using namespace hip_kernels;
    using task = fused_decode_task<Format>;
    gpu::check(gpu::launch_after_previous(overlap_now_, fused_decode_kernel<task>, blocks, fused_decode_threads,
                                          fused_decode_shared_bytes<task>(row_length), stream_, matrices, rows, row_length, x),
               "launching fused_decode_kernel");
  }

  // Both products of matmul_pair in one fused decode launch, their rows end to end, and true; or
  // false, having done nothing, unless x is one token and each matrix alone would take the fused
  // kernel (so every output has the bits the two launches would give it).
  template <class Format>
  bool fused_decode_pair(const quantized_view<Format>& a, const quantized_view<Format>& b, matrix_view<const float> x, matrix_view<float> ya,
                         matrix_view<float> yb) {
    const std::size_t row_length = a.row_length();
    if (x.extent(0) != 1 || b.row_length() != row_length || row_length > max_row_length) return false;
    for (std::size_t rows : {a.rows(), b.rows()}) {
      if (matmul_path<Format>(1, rows, row_length) != matmul_activations::int8 || !takes_fused_decode<Format>(rows, row_length)) return false;
    }
    start_batch(1);
    const auto* first = resident(a);
    const auto* second = resident(b);
    const std::size_t rows = a.rows() + b.rows();
    const unsigned blocks = fused_decode_blocks<Format>(rows, row_length, {first, second});
    if (blocks == 0) return false;
    call c(*this, staged_bytes(x) + staged_bytes(ya) + staged_bytes(yb) + 256);
    const auto in = c.stage_in(x);
    const auto out_a = c.stage_out(ya);
    const auto out_b = c.stage_out(yb);
    launch_fused_decode<Format>(blocks,
                                {.first = reinterpret_cast<const std::uint8_t*>(first), .first_out = out_a.data, .first_rows = a.rows(),
                                 .second = reinterpret_cast<const std::uint8_t*>(second), .second_out = out_b.data},
                                rows, row_length, in.data);
    c.copy_back(ya, out_a);
    c.finish("matmul", yb, out_b);
    return true;
  }

  // What a matmul launch multiplies: `rows` weight rows per slice (one slice, or one per group) by
  // up to `tile_tokens` activation rows per slice.
  struct matmul_shape {
    std::size_t rows;
    std::size_t tile_tokens;
    std::size_t slices;
    std::size_t row_length;
  };

  // Grid of a matmul: groups of warps_per_row warps sharing rows_per_warp rows, token tiles along y,
  // slices along z.
  static dim3 matmul_grid(const matmul_shape& shape, std::size_t rows_per_warp, std::size_t warps_per_row, std::size_t token_tile_size) noexcept {
    const std::size_t rows_per_block = hip_kernels::warps_per_block / warps_per_row * rows_per_warp;
    return {static_cast<unsigned>((shape.rows + rows_per_block - 1) / rows_per_block),
            static_cast<unsigned>((shape.tile_tokens + token_tile_size - 1) / token_tile_size), static_cast<unsigned>(shape.slices)};
  }

  // The per-rows-per-warp, warps-per-row and token-tile choice of a matmul (see
  // decode_rows_per_warp and decode_warps_per_row), counting the rows of every slice.
  template <class Format, class Activations>
  void matmul_launch(const matmul_shape& shape, const typename Format::block_type* weights, const Activations& x,
                     const hip_kernels::matmul_output& out, const hip_kernels::matmul_group_rows* groups) {
    using namespace hip_kernels;
    constexpr bool int8 = std::is_same_v<Activations, q8_activations>;
    const std::size_t all_rows = shape.rows * shape.slices;
    if constexpr (decode_rows_per_warp<Format>(std::numeric_limits<std::size_t>::max(), int8) == 2) {
      if (shape.tile_tokens == 1 && decode_rows_per_warp<Format>(all_rows, int8) == 2) {
        launch("launching matmul_kernel", matmul_kernel<Format, 2, 1, 1, stage_lane_bytes, Activations>, matmul_grid(shape, 2, 1, 1),
               weights, shape.rows, shape.row_length, x, out, groups);
        return;
      }
    }
    if (shape.tile_tokens > 1) {
      launch("launching matmul_kernel", matmul_kernel<Format, 1, 1, token_tile, stage_lane_bytes, Activations>,
             matmul_grid(shape, 1, 1, token_tile), weights, shape.rows, shape.row_length, x, out, groups);
      return;
    }
    with_warps_per_row(decode_warps_per_row(all_rows), [&](auto warps) {
      this->launch("launching matmul_kernel", matmul_kernel<Format, 1, decltype(warps)::value, 1, stage_lane_bytes, Activations>,
                   matmul_grid(shape, 1, warps, 1), weights, shape.rows, shape.row_length, x, out, groups);
    });
  }

  // The calls that follow belong to a batch of `tokens` tokens (hip_options::overlap_max_tokens).
  void start_batch(std::size_t tokens) noexcept { overlap_now_ = overlap_launches_ && tokens <= overlap_max_tokens_; }

  // Launches Threads threads per block on the policy's stream; arguments are converted to the
  // kernel's parameter types first. A failed launch throws naming `what`.
  template <int Threads = hip_kernels::block_threads, class... Params, class... Args>
  void launch(const char* what, void (*kernel)(Params...), dim3 grid, Args&&... args) {
    gpu::check(gpu::launch_after_previous(overlap_now_, kernel, grid, Threads, 0, stream_, std::forward<Args>(args)...), what);
  }

  // A device-readable matrix: pointer and row stride in elements.
  template <class T>
  struct device_rows {
    T* data;
    std::size_t stride;
    bool held = false;  // a held result's memory (resident activations): nothing to copy back
  };

  // One kernel call's staging: reserves the arena, copies inputs in (copied mode), copies outputs back
  // and waits for the stream when finished. In direct mode every stage is the host pointer itself.
  // Copied mode moves pieces of up to `pinned_staging_bytes` in all through page-locked host memory
  // (`staging_`): an input is copied there on the host, then by DMA, asynchronously, to the arena;
  // an output comes back the same way and reaches its rows once the stream has finished. Larger
  // pieces are copied from and to their pageable rows, where the driver pipelines its own bounce
  // buffer and each copy waits for the stream (~25-30 µs per small call on the H100; measured in
  // docs/performance.md).
  class call {
   public:
    // `staged`: what the call stages (copied mode); `scratch`: device scratch it needs in either
    // mode. Every piece is rounded up to `piece_alignment`.
    call(hip_device& dev, std::size_t staged, std::size_t scratch_bytes = 0) : dev_(dev) {
      dev_.ensure_arena((dev_.stages_activations() ? staged : 0) + scratch_bytes + max_pieces * piece_alignment);
    }
    call(const call&) = delete;
    call& operator=(const call&) = delete;
    // A call left by an exception may still have copies from `staging_` in flight, which the next
    // call would overwrite.
    ~call() {
      if (finished_) return;
      (void)gpu::stream_synchronize(dev_.stream_);
      dev_.pinned_used_ = 0;
    }

    template <class T>
    T* scratch(std::size_t n) {
      const std::size_t bytes = rounded(n * sizeof(T));
      if (used_ + bytes > dev_.arena_bytes_) {
        throw error(error_category::memory, "hip policy: a call staged more than it reserved (a bug in hip.hpp)");
      }
      auto* p = reinterpret_cast<T*>(dev_.arena_ + used_);
      used_ += bytes;
      return p;
    }

    // Page-locked host memory for n values to copy through, or null when staging_ has no room left
    // (or in direct mode). Calls that return without waiting (resident activations) leave copies
    // from it in flight: an input that finds it full waits for them and starts it anew; an output
    // (copied back at finish) takes the pageable path instead.
    template <class T>
    T* pinned(std::size_t n, bool input = true) {
      const std::size_t bytes = rounded(n * sizeof(T));
      if (dev_.staging_ == nullptr || bytes > pinned_staging_bytes) return nullptr;
      if (dev_.pinned_used_ + bytes > pinned_staging_bytes) {
        if (!input || returns_ != 0) return nullptr;
        dev_.sync_stream();
      }
      auto* p = reinterpret_cast<T*>(dev_.staging_ + dev_.pinned_used_);
      dev_.pinned_used_ += bytes;
      return p;
    }
    // Queues the copy of n values from host memory (page-locked or not) to the GPU.
    template <class T>
    void upload(T* device, const T* host, std::size_t n) {
      if (n != 0) gpu::check(gpu::copy_async(device, host, n * sizeof(T), gpu::copy_host_to_device, dev_.stream_), "copying to the GPU");
    }

    template <class T>
    const T* stage_in(std::span<const T> values) {
      if (dev_.mode_ == hip_memory_mode::direct || values.empty()) return values.data();
      if constexpr (std::is_same_v<T, float>) {
        if (const std::byte* held = dev_.held_input(values)) return reinterpret_cast<const float*>(held);
      }
      T* device = scratch<T>(values.size());
      const T* host = values.data();
      if (T* page_locked = pinned<T>(values.size())) {
        std::copy(values.begin(), values.end(), page_locked);
        host = page_locked;
      }
      upload(device, host, values.size());
      return device;
    }
    template <class T>
    const T* stage_in(std::span<T> values) {
      return stage_in(std::span<const T>(values));
    }

    // A small vector that calls read again and again unchanged (norm weights, RoPE frequencies):
    // uploaded once per host address. Each use compares the host's values with those uploaded (a
    // few KB: cheaper than staging them anew) and uploads them again where they changed; the
    // replaced copy is freed once the GPU has finished with it.
    template <class T>
    const T* stage_constant(std::span<const T> values) {
      if (dev_.mode_ == hip_memory_mode::direct || values.empty()) return values.data();
      const std::span<const std::byte> bytes = std::as_bytes(values);
      auto found = dev_.constants_.find(values.data());
      if (found != dev_.constants_.end() && found->second.values.size() == bytes.size() &&
          std::memcmp(found->second.values.data(), bytes.data(), bytes.size()) == 0) {
        return reinterpret_cast<const T*>(found->second.device);
      }
      const std::size_t replaced = found != dev_.constants_.end() ? found->second.values.size() : 0;
      if (bytes.size() > constant_max_bytes || dev_.constant_bytes_ - replaced + bytes.size() > constants_max_bytes) return stage_in(values);
      if (found != dev_.constants_.end()) {
        dev_.constant_bytes_ -= found->second.values.size();
        dev_.retired_constants_.push_back(found->second.device);
        dev_.constants_.erase(found);
      }
      void* device = nullptr;
      gpu::check(gpu::allocate(&device, bytes.size()), "allocating GPU memory for a constant vector");
      dev_.constants_.emplace(values.data(), constant_upload{{bytes.begin(), bytes.end()}, static_cast<std::byte*>(device)});
      dev_.constant_bytes_ += bytes.size();
      if (T* page_locked = pinned<T>(values.size())) {
        std::ranges::copy(values, page_locked);
        upload(static_cast<T*>(device), page_locked, values.size());
      } else {
        gpu::check(gpu::copy(device, values.data(), bytes.size(), gpu::copy_host_to_device), "uploading a constant vector");
      }
      return static_cast<const T*>(device);
    }

    // Rows the kernel reads: a held result's memory where one holds them all, else staged.
    device_rows<const float> stage_in(matrix_view<const float> m) {
      if (dev_.resident_activations_ && !m.empty()) {
        check_inner_stride(m);
        if (const std::byte* held = dev_.held_input(m.footprint())) return {reinterpret_cast<const float*>(held), row_stride(m), true};
      }
      const auto rows = device_rows_for(m);
      upload_rows(rows.data, m);
      return {rows.data, rows.stride};
    }
    // Rows the kernel reads and writes; `may_hold`: their result may stay on the GPU (resident
    // activations; else finish() copies it back).
    device_rows<float> stage_in_out(matrix_view<float> m, bool may_hold = true) {
      if (may_hold) {
        if (auto held = hold(m, true)) return *held;
      } else if (dev_.resident_activations_) {
        dev_.return_held(m.footprint());
      }
      const auto rows = device_rows_for(matrix_view<const float>(m));
      upload_rows(rows.data, m);
      return rows;
    }
    // Rows the kernel writes; finish() copies them back unless the GPU holds them.
    device_rows<float> stage_out(matrix_view<float> m) {
      if (auto held = hold(m, false)) return *held;
      return device_rows_for(matrix_view<const float>(m));
    }
    // The call's results come back to host memory by other means (a copy it made): finish() waits.
    void returns_to_host() noexcept { must_wait_ = true; }

    // Queues the copy of `out` back from its staged rows (copied mode), for a call with more than
    // one output; finish() copies the last one.
    void copy_back(matrix_view<float> out, device_rows<float> staged) {
      if (staged.data == nullptr || staged.held || !dev_.stages_activations() || out.extent(0) == 0 || out.extent(1) == 0) return;
      must_wait_ = true;
      const std::size_t n = out.extent(0) * staged.stride;
      if (float* page_locked = pinned<float>(n, false); page_locked != nullptr && returns_ < max_pieces) {
        gpu::check(gpu::copy_async(page_locked, staged.data, n * sizeof(float), gpu::copy_device_to_host, dev_.stream_), "copying from the GPU");
        returns_at_[returns_++] = {out, page_locked};
      } else {
        copy_rows(out.data(), out.stride(0), staged.data, staged.stride, out, gpu::copy_device_to_host);
      }
    }

    // Waits for the kernel (and copies back `out` from its staged rows, in copied mode).
    // With resident activations, a call whose results all stay on the GPU returns without waiting.
    void finish(const char* what) { finish(what, {}, device_rows<float>{nullptr, 0, false}); }
    void finish(const char* what, matrix_view<float> out, device_rows<float> staged) {
      gpu::check(gpu::get_last_error(), what);
      copy_back(out, staged);
      finished_ = true;
      if (dev_.resident_activations_ && !must_wait_) return;
      dev_.sync_stream(what);
      for (std::size_t i = 0; i < returns_; ++i) {
        const matrix_view<float> rows = returns_at_[i].rows;
        for (std::size_t r = 0; r < rows.extent(0); ++r) std::copy_n(returns_at_[i].host + r * rows.extent(1), rows.extent(1), &rows(r, 0));
      }
    }

   private:
    static constexpr std::size_t piece_alignment = 256;
    static constexpr std::size_t max_pieces = 8;
    static constexpr std::size_t rounded(std::size_t bytes) noexcept { return (bytes + piece_alignment - 1) / piece_alignment * piece_alignment; }

    static void check_inner_stride(matrix_view<const float> m) {
      if (m.extent(1) > 1 && m.stride(1) != 1) {
        throw error(error_category::shape, "hip policy: matrix rows must be contiguous (inner stride 1)");
      }
    }
    // Row stride of m as the kernels take it (a single row's stride is its width).
    static std::size_t row_stride(matrix_view<const float> m) noexcept { return m.extent(0) <= 1 ? m.extent(1) : m.stride(0); }

    // Resident activations: where the kernel writes m (reading it first where `reads`) when its
    // result may stay on the GPU — m's rows without gaps between them, so the held memory is m's
    // image — else nothing (after results held in m's memory have come back, so that those finish()
    // copies back are not overwritten later). Checked mode: m's host memory is marked.
    std::optional<device_rows<float>> hold(matrix_view<float> m, bool reads) {
      if (!dev_.resident_activations_ || m.empty()) return std::nullopt;
      check_inner_stride(m);
      const std::span<const float> memory = m.footprint();
      if (memory.size() != m.size()) {
        dev_.return_held(memory);
        return std::nullopt;
      }
      const auto [device, fresh] = dev_.hold(memory, reads);
      const device_rows<float> rows{reinterpret_cast<float*>(device), m.extent(1), true};
      if (fresh && reads) upload_rows(rows.data, m);
      if (fresh && dev_.check_host_access_) mark_held(memory);
      return rows;
    }

    // Where the kernel finds the rows of `m`: `m` itself in direct mode, else contiguous arena rows
    // (filled by the caller for inputs).
    device_rows<float> device_rows_for(matrix_view<const float> m) {
      check_inner_stride(m);
      if (dev_.mode_ == hip_memory_mode::direct) return {const_cast<float*>(m.data()), m.stride(0)};
      return {scratch<float>(m.extent(0) * m.extent(1)), m.extent(1)};
    }
    void upload_rows(float* device, matrix_view<const float> m) {
      if (dev_.mode_ == hip_memory_mode::direct || m.extent(0) == 0 || m.extent(1) == 0) return;
      const std::size_t width = m.extent(1);
      if (float* page_locked = pinned<float>(m.extent(0) * width)) {
        for (std::size_t r = 0; r < m.extent(0); ++r) std::copy_n(&m(r, 0), width, page_locked + r * width);
        upload(device, page_locked, m.extent(0) * width);
      } else {
        copy_rows(device, width, m.data(), m.stride(0), m, gpu::copy_host_to_device);
      }
    }
    template <class T, class Kind>
    void copy_rows(float* dst, std::size_t dst_stride, T* src, std::size_t src_stride, tensor_view<const float, 2> shape, Kind kind) {
      gpu::check(gpu::copy_2d_async(dst, dst_stride * sizeof(float), src, src_stride * sizeof(float), shape.extent(1) * sizeof(float),
                                    shape.extent(0), kind, dev_.stream_),
                 "copying rows between host and GPU");
    }

    struct pending_return {
      matrix_view<float> rows;
      const float* host;
    };

    hip_device& dev_;
    std::size_t used_ = 0;
    bool finished_ = false;
    bool must_wait_ = false;
    std::size_t returns_ = 0;
    std::array<pending_return, max_pieces> returns_at_{};
  };

  // Waits for the stream; page-locked staging is free again, and so are replaced constant vectors.
  void sync_stream(const char* what = "waiting for the GPU") {
    gpu::check(gpu::stream_synchronize(stream_), what);
    pinned_used_ = 0;
    release_retired_constants();
    return_kv_rows();
  }
  void release_retired_constants() noexcept {
    for (std::byte* device : retired_constants_) (void)gpu::release(device);
    retired_constants_.clear();
  }

  // Resident activations. held_: the results the GPU holds, by the host memory [begin, end) whose
  // values they replace, each in device memory that is that memory's image (same offsets). A
  // result's memory is not reused before the GPU has finished (reuse_held_memory, after a wait with
  // nothing held), so a call may still read a result it replaces.
  struct held_result {
    std::uintptr_t end;
    std::byte* device;
  };
  static std::pair<std::uintptr_t, std::uintptr_t> bounds(std::span<const float> memory) noexcept {
    const auto begin = reinterpret_cast<std::uintptr_t>(memory.data());
    return {begin, begin + memory.size_bytes()};
  }
  // Address ranges in a map by their first byte, each value with `end` (one past its last byte),
  // none overlapping (registered regions, held results): the range holding all of [begin, end),
  // or ranges.end(); the first range that ends after `begin`, so [begin, ...) overlaps it and the
  // ranges after it that start before its end.
  template <class Ranges>
  static auto holder_of(Ranges& ranges, std::uintptr_t begin, std::uintptr_t end) {
    auto next = ranges.upper_bound(begin);
    if (next == ranges.begin()) return ranges.end();
    const auto holder = std::prev(next);
    return holder->second.end >= end ? holder : ranges.end();
  }
  template <class Ranges>
  static auto first_overlapping(Ranges& ranges, std::uintptr_t begin) {
    auto it = ranges.upper_bound(begin);
    if (it != ranges.begin() && std::prev(it)->second.end > begin) --it;
    return it;
  }

  // Where a call reads `memory` on the GPU: in the result that holds all of it, or null when host
  // memory has its values (after results overlapping it in part have come back).
  const std::byte* held_input(std::span<const float> memory) {
    if (held_.empty()) return nullptr;
    const auto [begin, end] = bounds(memory);
    if (const auto holder = holder_of(held_, begin, end); holder != held_.end()) {
      if (check_host_access_) check_untouched(begin, end);
      return holder->second.device + (begin - holder->first);
    }
    return_held(memory);
    return nullptr;
  }

  // Device memory that holds `memory`'s result from now on, and whether it is new (to be filled by
  // the caller where the call reads before it writes): the result holding all of it already, else new memory replacing
  // the results it covers wholly (which a call that only writes overwrites) after those it overlaps in part, or all it
  // overlaps when the call reads, have come back.
  std::pair<std::byte*, bool> hold(std::span<const float> memory, bool reads) {
    const auto [begin, end] = bounds(memory);
    if (const auto holder = holder_of(held_, begin, end); holder != held_.end()) {
      if (check_host_access_) check_untouched(begin, end);
      return {holder->second.device + (begin - holder->first), false};
    }
    for (auto it = first_overlapping(held_, begin); it != held_.end() && it->first < end;) {
      if (reads || it->first < begin || it->second.end > end) {
        return_result(it->first, it->second);
      }
      it = held_.erase(it);
    }
    std::byte* device = allocate_held(end - begin);
    held_.emplace(begin, held_result{end, device});
    return {device, true};
  }

  // Results held in any of `memory` come back to host memory and are forgotten (no wait: a copy
  // to pageable memory returns when done); whether there were any.
  bool return_held(std::span<const float> memory) {
    if (held_.empty() || memory.empty()) return false;
    const auto [begin, end] = bounds(memory);
    return return_held(begin, end);
  }
  bool return_held(std::uintptr_t begin, std::uintptr_t end) {
    bool returned = false;
    for (auto it = first_overlapping(held_, begin); it != held_.end() && it->first < end; returned = true) {
      return_result(it->first, it->second);
      it = held_.erase(it);
    }
    return returned;
  }
  void return_result(std::uintptr_t begin, const held_result& result) {
    if (check_host_access_) check_untouched(begin, result.end);
    gpu::check(gpu::copy_async(reinterpret_cast<void*>(begin), result.device, result.end - begin, gpu::copy_device_to_host, stream_),
               "returning a held result to host memory");
  }

  // Checked mode: the host memory of a held result holds a NaN pattern until the result comes back.
  static constexpr std::uint32_t held_pattern = 0x7fc0deadu;  // a quiet NaN
  static void mark_held(std::span<const float> memory) noexcept {
    for (const float& value : memory) std::memcpy(const_cast<float*>(&value), &held_pattern, sizeof held_pattern);
  }
  static void check_untouched(std::uintptr_t begin, std::uintptr_t end) {
    for (std::uintptr_t at = begin; at < end; at += sizeof(float)) {
      std::uint32_t bits = 0;
      std::memcpy(&bits, reinterpret_cast<const void*>(at), sizeof bits);
      if (bits == held_pattern) continue;
      throw error(error_category::device, "hip resident activations: the host wrote the value at byte " + std::to_string(at - begin) +
                                              " of a " + std::to_string(end - begin) + "-byte result the GPU held (host address " +
                                              std::to_string(begin) + ") without host_access() first");
    }
  }

  // Device memory for a held result: from chunks that grow as needed and are reused only when
  // nothing is held and the GPU has finished; several chunks then merge into one for next time.
  std::byte* allocate_held(std::size_t bytes) {
    bytes = (bytes + 255) / 256 * 256;
    if (held_memory_.empty() || held_memory_.back().used + bytes > held_memory_.back().bytes) {
      const std::size_t chunk = std::max({bytes, held_chunk_bytes_, std::size_t{16} << 20});
      void* p = nullptr;
      gpu::check(gpu::allocate(&p, chunk), ("allocating " + std::to_string(chunk) + " bytes for results held on the GPU").c_str());
      held_memory_.push_back({static_cast<std::byte*>(p), chunk, 0});
    }
    held_memory& last = held_memory_.back();
    std::byte* p = last.memory + last.used;
    last.used += bytes;
    return p;
  }
  void reuse_held_memory() noexcept {
    if (held_memory_.size() > 1) {
      held_chunk_bytes_ = 0;
      for (const held_memory& chunk : held_memory_) {
        held_chunk_bytes_ += chunk.bytes;
        (void)gpu::release(chunk.memory);
      }
      held_memory_.clear();
    }
    for (held_memory& chunk : held_memory_) chunk.used = 0;
  }
  // After the public calls that wait: page-locked staging and, with nothing held, the held memory are free.
  void finish_waiting() {
    sync_stream();
    if (held_.empty()) reuse_held_memory();
  }

  // Scratch of a matmul's int8 activations: codes and a q8_unit per 32, each piece aligned.
  static std::size_t q8_activation_bytes(std::size_t tokens, std::size_t row_length) noexcept {
    return (tokens * row_length + 255) / 256 * 256 +
           (tokens * row_length / hip_kernels::unit_size * sizeof(hip_kernels::q8_unit) + 255) / 256 * 256;
  }

  // Scratch of a tile matmul's f16 activations and their rows' scales, each piece aligned.
  static std::size_t f16_activation_bytes(std::size_t tokens, std::size_t row_length) noexcept {
    return (tokens * row_length * sizeof(std::uint16_t) + 255) / 256 * 256 + (tokens * sizeof(float) + 255) / 256 * 256;
  }

  template <class T>
  static std::size_t staged_bytes(tensor_view<T, 2> m) noexcept {
    return (m.extent(0) * m.extent(1) * sizeof(float) + 255) / 256 * 256;
  }
  void deltanet(const deltanet_args& args, bool chunked) {
    const std::size_t tokens = args.v.extent(0);
    const std::size_t heads = args.v.extent(1);
    const std::size_t dv = args.v.extent(2);
    const std::size_t key_heads = args.k.extent(1);
    const std::size_t dk = args.k.extent(2);
    if (tokens == 0 || heads == 0 || dv == 0) return;
    if (dk > hip_kernels::deltanet_max_key_dim) {
      on_host(args.q, args.k, args.v, args.out, args.log_decay, args.beta, args.state);
      reference_kernels::deltanet_recurrent(args);
      return;
    }
    const auto& state = args.state;
    if (key_heads == 0 || heads % key_heads != 0 || args.q.extents() != args.k.extents() || args.k.extent(0) != tokens ||
        args.out.extents() != args.v.extents() || args.log_decay.extent(0) != tokens || args.log_decay.extent(1) != heads ||
        args.beta.extents() != args.log_decay.extents() || state.extent(0) != heads || state.extent(1) != dk || state.extent(2) != dv ||
        state.stride(2) != 1 || state.stride(1) != dv || state.stride(0) != dk * dv || tokens > std::numeric_limits<std::uint32_t>::max()) {
      throw error(error_category::shape, "hip deltanet: q/k [" + std::to_string(args.k.extent(0)) + "][" + std::to_string(key_heads) + "][" +
                                             std::to_string(dk) + "], v/out [" + std::to_string(tokens) + "][" + std::to_string(heads) + "][" +
                                             std::to_string(dv) + "], gates and a contiguous state [heads][key_dim][value_dim] must agree");
    }
    const matrix_view<const float> q = rows_of_heads(args.q, "deltanet");
    const matrix_view<const float> k = rows_of_heads(args.k, "deltanet");
    const matrix_view<const float> v = rows_of_heads(args.v, "deltanet");
    const matrix_view<float> out = rows_of_heads(args.out, "deltanet");
    const matrix_view<float> state_rows(state.data(), {heads, dk * dv});
    call c(*this, staged_bytes(q) + staged_bytes(k) + staged_bytes(v) + staged_bytes(out) + staged_bytes(state_rows) +
                      staged_bytes(args.log_decay) + staged_bytes(args.beta));
    // The state comes back to host memory with every call: its snapshots and rollbacks are host copies.
    // Inputs before outputs (as elementwise_call).
    hip_kernels::deltanet_problem problem;
    problem.q = device_heads(c.stage_in(q), args.q);
    problem.k = device_heads(c.stage_in(k), args.k);
    problem.v = device_heads(c.stage_in(v), args.v);
    const auto decay = c.stage_in(args.log_decay);
    const auto beta = c.stage_in(args.beta);
    const auto staged_state = c.stage_in_out(state_rows, false);
    const auto staged_out = c.stage_out(out);
    problem.log_decay = decay.data;
    problem.decay_stride = decay.stride;
    problem.beta = beta.data;
    problem.beta_stride = beta.stride;
    problem.state = staged_state.data;
    problem.out = device_heads(staged_out, args.out);
    problem.tokens = static_cast<std::uint32_t>(tokens);
    problem.key_heads = static_cast<std::uint32_t>(key_heads);
    problem.value_heads = static_cast<std::uint32_t>(heads);
    problem.key_dim = static_cast<std::uint32_t>(dk);
    problem.value_dim = static_cast<std::uint32_t>(dv);
    problem.order = args.order;
    constexpr std::size_t columns = hip_kernels::block_threads / hip_kernels::deltanet_lanes_per_column;
    const dim3 grid(static_cast<unsigned>(heads), static_cast<unsigned>((dv + columns - 1) / columns));
    if (chunked && dk <= hip_kernels::deltanet_chunk_max_key_dim) {
      launch("launching deltanet_chunk_kernel",
             hip_kernels::deltanet_chunk_kernel<hip_kernels::block_threads, hip_kernels::deltanet_chunk_tokens>, grid, problem);
    } else {
      launch("launching deltanet_kernel", hip_kernels::deltanet_kernel<hip_kernels::block_threads>, grid, problem);
    }
    c.copy_back(state_rows, staged_state);
    c.finish("deltanet", out, staged_out);
  }

  // Before a host fallback: results the GPU holds in these views' memory come back.
  template <class... Views>
  void on_host(const Views&... views) {
    (host_access(views.footprint()), ...);
  }

  // A [row][head][dim] tensor's rows as a matrix (heads at their stride within each row), so that
  // copied mode stages them like any rows; device_heads() says where the kernel finds them.
  template <class T>
  static matrix_view<T> rows_of_heads(tensor_view<T, 3> x, const char* what) {
    if (x.extent(2) > 1 && x.stride(2) != 1) {
      throw error(error_category::shape, std::string("hip ") + what + ": each head's values must be contiguous (inner stride 1)");
    }
    const std::size_t width = x.extent(1) == 0 ? 0 : (x.extent(1) - 1) * x.stride(1) + x.extent(2);
    return matrix_view<T>(x.data(), {x.extent(0), width}, {x.stride(0), 1});
  }
  template <class T, class U>
  static hip_kernels::head_rows<T> device_heads(device_rows<T> staged, tensor_view<U, 3> x) noexcept {
    return {staged.data, staged.stride, x.stride(1)};
  }

  static unsigned blocks_for(std::size_t threads) noexcept {
    return static_cast<unsigned>((threads + hip_kernels::block_threads - 1) / hip_kernels::block_threads);
  }

  // The rmsnorm kernel's call: y = the normalised rows of x, or, add_to_y, y = (y + them) · y_scale.
  void norm_rows(const char* what, matrix_view<const float> x, std::span<const float> weight, norm_weight kind, float eps, matrix_view<float> y,
                 bool add_to_y, float y_scale) {
    call c(*this, staged_bytes(x) + staged_bytes(y) + weight.size_bytes());
    const auto in = c.stage_in(x);
    const auto* w = c.stage_constant(weight);
    const auto out = add_to_y ? c.stage_in_out(y) : c.stage_out(y);
    hip_kernels::with_rmsnorm_block_threads(x.extent(1), [&](auto threads) {
      launch<threads()>("launching rmsnorm_kernel", hip_kernels::rmsnorm_kernel<threads()>, static_cast<unsigned>(x.extent(0)), in.data,
                        in.stride, w, kind, eps, x.extent(1), out.data, out.stride, add_to_y, y_scale);
    });
    c.finish(what, y, out);
  }

  // out = f(inputs) element-wise. Inputs are staged before the output: an input may be the output
  // itself, whose held memory would be new and empty once the output is staged.
  template <std::size_t Inputs, class Launch>
  void elementwise_call(const char* what, std::span<float> out, std::array<std::span<const float>, Inputs> inputs, Launch&& run_kernel) {
    if (out.empty()) return;
    const matrix_view<float> rows(out.data(), {1, out.size()});
    std::size_t input_bytes = 0;
    for (const std::span<const float> in : inputs) input_bytes += staged_bytes(matrix_view<const float>(in.data(), {1, in.size()}));
    call c(*this, staged_bytes(rows) + input_bytes);
    std::array<const float*, Inputs> staged{};
    for (std::size_t i = 0; i < Inputs; ++i) staged[i] = c.stage_in(inputs[i]);
    const auto y = c.stage_out(rows);
    run_kernel(staged, y.data);
    c.finish(what, rows, y);
  }
  void in_place(hip_kernels::elementwise op, std::span<float> x, float factor) {
    if (x.empty()) return;
    const matrix_view<float> rows(x.data(), {1, x.size()});
    call c(*this, staged_bytes(rows));
    const auto data = c.stage_in_out(rows);
    launch("launching elementwise_kernel", hip_kernels::elementwise_kernel<hip_kernels::block_threads>, blocks_for(x.size()), op, data.data,
           nullptr, factor, data.data, x.size());
    c.finish("element-wise kernel", rows, data);
  }

  // The device address of a weight matrix: the host address in direct mode; in registered mode its
  // address in a registered region, else, and in copied mode, its upload.
  template <block_format Format>
  const typename Format::block_type* resident(const quantized_view<Format>& w) {
    using block = typename Format::block_type;
    const auto* host = w.row(0).data();
    constexpr std::size_t alignment = hip_kernels::gpu_format<Format>::row_alignment;
    const bool aligned = reinterpret_cast<std::uintptr_t>(host) % alignment == 0;
    if (mode_ == hip_memory_mode::direct) {
      if (!aligned) {
        throw error(error_category::format, std::string(name_of(Format::type)) + " weights at " + std::to_string(reinterpret_cast<std::uintptr_t>(host)) +
                                                ": the GPU kernels read them in " + std::to_string(alignment) + "-byte words and need that alignment");
      }
      return host;
    }
    const std::size_t bytes = w.rows() * w.blocks_per_row() * sizeof(block);
    if (mode_ == hip_memory_mode::registered && aligned) {
      if (std::byte* device = in_place(host, bytes, overlap::only_existing)) return reinterpret_cast<const block*>(device);
    }
    auto found = uploads_.find(host);
    if (found == uploads_.end() || found->second.bytes < bytes) {
      if (found != uploads_.end()) {
        uploaded_bytes_ -= found->second.bytes;
        (void)gpu::release(found->second.device);
        uploads_.erase(found);
      }
      void* device = nullptr;
      gpu::check(gpu::allocate(&device, bytes), ("uploading " + std::to_string(bytes) + " bytes of weights").c_str());
      gpu::check(gpu::copy_async(device, host, bytes, gpu::copy_host_to_device, stream_), "uploading weights");
      found = uploads_.emplace(host, upload{device, bytes}).first;
      uploaded_bytes_ += bytes;
    }
    return static_cast<const typename Format::block_type*>(found->second.device);
  }

  // Registered mode: host memory registered with the GPU, by its first byte.
  struct host_region {
    std::uintptr_t end;  // one past its last byte
    std::byte* device;   // where kernels find its first byte
  };
  // What in_place() does when no region holds the range: `replace` the regions it overlaps by one
  // registration of it, or register nothing (`only_existing`).
  enum class overlap { replace, only_existing };

  // Where kernels find `bytes` from `host` in registered memory, registering them first as `rule`
  // allows; null where no region holds them or the runtime refuses.
  std::byte* in_place(const void* host, std::size_t bytes, overlap rule) {
    const auto begin = reinterpret_cast<std::uintptr_t>(host), end = begin + bytes;
    if (const auto holder = holder_of(host_regions_, begin, end); holder != host_regions_.end()) {
      return holder->second.device + (begin - holder->first);
    }
    if (rule == overlap::only_existing) return nullptr;
    for (auto next = first_overlapping(host_regions_, begin); next != host_regions_.end() && next->first < end;) {
      (void)gpu::stream_synchronize(stream_);
      (void)gpu::unregister_host(reinterpret_cast<const void*>(next->first));
      next = host_regions_.erase(next);
    }
    void* device = nullptr;
    if (const gpu::error_t refused = gpu::register_host_read_only(host, bytes, &device); refused != gpu::success) {
      refusal_ = gpu::error_string(refused);
      (void)gpu::get_last_error();  // a refusal is an answer, not a failure of later calls
      return nullptr;
    }
    host_regions_.emplace(begin, host_region{end, static_cast<std::byte*>(device)});
    return static_cast<std::byte*>(device);
  }

  void ensure_arena(std::size_t bytes) {
    if (bytes <= arena_bytes_) return;
    gpu::check(gpu::stream_synchronize(stream_), "waiting before growing the GPU arena");
    release_arena();
    void* p = nullptr;
    gpu::check(gpu::allocate(&p, bytes), ("allocating a " + std::to_string(bytes) + "-byte GPU arena").c_str());
    arena_ = static_cast<std::byte*>(p);
    arena_bytes_ = bytes;
  }
  void release_arena() noexcept {
    if (arena_ != nullptr) (void)gpu::release(arena_);
    arena_ = nullptr;
    arena_bytes_ = 0;
  }

  struct upload {
    void* device;
    std::size_t bytes;
  };

  // call::stage_constant: a constant vector's values as uploaded, and where the GPU has them.
  struct constant_upload {
    std::vector<std::byte> values;
    std::byte* device;
  };
  // Larger vectors are staged with every call, as are all once the uploaded ones reach the total.
  static constexpr std::size_t constant_max_bytes = std::size_t{64} << 10;
  static constexpr std::size_t constants_max_bytes = std::size_t{64} << 20;

  // A layer's KV blocks as the kernels address them, at `base`: the cache's own memory (direct mode)
  // or the GPU's copy of it (kv_mirror), which keeps the cache's layout.
  template <class Byte>
  static hip_kernels::kv_storage<Byte> device_kv(const kv_layer_view& kv, Byte* base) noexcept {
    return {base, kv.block_bytes, kv.k_offset, kv.v_offset, kv.row_bytes, static_cast<std::uint32_t>(kv.block_size)};
  }

  // Copied and registered modes: a paged KV cache's blocks on the GPU, at the same offsets as in
  // host memory.
  struct kv_mirror {
    static constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();
    std::byte* device = nullptr;
    std::size_t bytes = 0;
    std::uint64_t cache_id = 0;
    // Per layer (its K offset within a block), each block's stamp at which the copy of its rows
    // is current (uploaded, or written on the GPU like the host's).
    std::unordered_map<std::size_t, std::vector<std::uint64_t>> uploaded;

    std::vector<std::uint64_t>& uploaded_for(const kv_layer_view& kv) {
      std::vector<std::uint64_t>& stamps = uploaded[kv.k_offset];
      stamps.resize(kv.blocks, never);
      return stamps;
    }
  };
  // Queues the upload of block `id`'s K and V rows of this layer to the GPU's copy of the cache,
  // through page-locked memory while it has room, else straight from the cache.
  void upload_kv_block(call& c, const kv_mirror& mirror, const kv_layer_view& kv, kv_block_id id) {
    const std::size_t run = kv.run_bytes();
    for (const std::size_t offset : {kv.k_offset, kv.v_offset}) {
      const std::size_t at = static_cast<std::size_t>(id) * kv.block_bytes + offset;
      const std::byte* source = kv.base + at;
      if (std::byte* page_locked = c.template pinned<std::byte>(run)) {
        std::copy_n(source, run, page_locked);
        source = page_locked;
      }
      c.upload(mirror.device + at, source, run);
    }
  }

  // Blocks written on the GPU's copy of a cache, due back in the cache's host memory: `blocks`
  // blocks from `first_block`, each `width` bytes from `offset` (one layer's K and V rows).
  struct kv_return {
    const std::byte* cache;  // the cache's host memory (kv_layer_view::base)
    std::uint64_t cache_id;
    std::size_t block_bytes;
    std::size_t offset;
    std::size_t width;
    kv_block_id first_block;
    std::size_t blocks;
  };
  // Notes block `id`'s K and V rows of this layer as due back, as one piece with the block before
  // it where that was the last noted. K's rows and V's follow each other in paged_kv_cache's
  // blocks: then they come back as one piece.
  void note_kv_return(const kv_mirror& mirror, const kv_layer_view& kv, kv_block_id id) {
    const std::size_t run = kv.run_bytes();
    const bool adjacent = kv.v_offset == kv.k_offset + run;
    const std::array<std::size_t, 2> offsets{kv.k_offset, kv.v_offset};
    for (std::size_t piece = 0; piece < (adjacent ? 1u : 2u); ++piece) {
      const std::size_t offset = offsets[piece];
      if (!kv_returns_.empty()) {
        kv_return& last = kv_returns_.back();
        if (last.cache == kv.base && last.cache_id == mirror.cache_id && last.offset == offset && last.first_block + last.blocks == id) {
          ++last.blocks;
          continue;
        }
      }
      kv_returns_.push_back({kv.base, mirror.cache_id, kv.block_bytes, offset, adjacent ? 2 * run : run, id, 1});
    }
  }
  // After a wait for the stream: the noted blocks back into the caches' host memory (copies into
  // pageable memory, which return once done).
  void return_kv_rows() {
    if (kv_returns_.empty()) return;
    const std::vector<kv_return> due = std::exchange(kv_returns_, {});
    for (const kv_return& r : due) {
      const auto mirror = kv_mirrors_.find(r.cache);
      if (mirror == kv_mirrors_.end() || mirror->second.cache_id != r.cache_id) continue;
      const std::size_t at = r.first_block * r.block_bytes + r.offset;
      gpu::check(gpu::copy_2d_async(const_cast<std::byte*>(r.cache) + at, r.block_bytes, mirror->second.device + at, r.block_bytes, r.width,
                                    r.blocks, gpu::copy_device_to_host, stream_),
                 "returning KV rows written on the GPU to the cache");
    }
    gpu::check(gpu::stream_synchronize(stream_), "returning KV rows written on the GPU to the cache");
  }
  // Forgets the blocks due back (their cache's memory may be gone): the GPU's copies of them no
  // longer count as current, so the host's rows are uploaded before they are read again.
  void drop_kv_returns() noexcept {
    for (const kv_return& r : kv_returns_) {
      const auto mirror = kv_mirrors_.find(r.cache);
      if (mirror == kv_mirrors_.end() || mirror->second.cache_id != r.cache_id) continue;
      const auto layer = mirror->second.uploaded.find(r.offset);
      if (layer == mirror->second.uploaded.end()) continue;
      for (std::size_t b = r.first_block; b < r.first_block + r.blocks && b < layer->second.size(); ++b) layer->second[b] = kv_mirror::never;
    }
    kv_returns_.clear();
  }
  // The mirror of the cache `kv` belongs to: made on first use, made anew for another cache.
  kv_mirror& kv_mirror_for(const kv_layer_view& kv) {
    const std::size_t bytes = kv.blocks * kv.block_bytes;
    if (bytes == 0) throw error(error_category::shape, "hip: the GPU's copy of a KV cache needs the view's block count (kv_layer_view::blocks)");
    kv_mirror& mirror = kv_mirrors_[kv.base];
    if (mirror.device == nullptr || mirror.bytes != bytes || mirror.cache_id != kv.cache_id) {
      gpu::check(gpu::stream_synchronize(stream_), "waiting before replacing a KV cache's copy");
      // Rows due back to the cache this copy belonged to: that cache is gone.
      std::erase_if(kv_returns_, [&](const kv_return& r) { return r.cache == kv.base; });
      if (mirror.device != nullptr) (void)gpu::release(mirror.device);
      mirror = {};
      void* device = nullptr;
      gpu::check(gpu::allocate(&device, bytes), ("allocating " + std::to_string(bytes) + " bytes for a KV cache's copy on the GPU").c_str());
      mirror.device = static_cast<std::byte*>(device);
      mirror.bytes = bytes;
      mirror.cache_id = kv.cache_id;
    }
    return mirror;
  }

  int device_;
  std::size_t resident_warps_ = 0;
  int multiprocessors_ = 0;
  bool int8_activations_;
  std::size_t int8_decode_min_weights_;
  std::size_t fused_decode_min_rows_;
  // Blocks of a fused decode kernel the GPU holds at once, by kernel and shared memory per block.
  std::map<std::pair<const void*, std::size_t>, std::size_t> fused_decode_blocks_;
  int forced_warps_per_row_;
  std::size_t host_call_max_values_;
  std::size_t matrix_unit_min_tokens_;
  std::size_t matrix_unit_min_warps_share_;
  bool matrix_units_ = false;
  std::string device_name_;
  hip_memory_mode mode_ = hip_memory_mode::copied;
  std::string reason_;
  gpu::stream_t stream_{};
  std::byte* arena_ = nullptr;
  std::byte* staging_ = nullptr;
  std::size_t pinned_used_ = 0;  // of staging_, since the stream last finished
  std::size_t arena_bytes_ = 0;
  std::unordered_map<const void*, upload> uploads_;
  std::size_t uploaded_bytes_ = 0;
  std::unordered_map<const void*, constant_upload> constants_;
  std::size_t constant_bytes_ = 0;
  std::vector<std::byte*> retired_constants_;  // replaced, freed at the next wait for the stream
  // An attention call's query rows, block tables and (copied mode) the blocks it uploads, kept so their
  // capacity is reused from call to call.
  std::vector<hip_kernels::attention_query_row> attention_rows_;
  std::vector<kv_block_id> attention_tables_;
  std::vector<kv_block_id> kv_uploads_;
  std::vector<hip_kernels::matmul_group_rows> group_rows_;  // a grouped matmul's non-empty groups
  std::unordered_map<const std::byte*, kv_mirror> kv_mirrors_;
  std::vector<kv_return> kv_returns_;
  std::map<std::uintptr_t, host_region> host_regions_;
  std::map<std::uintptr_t, std::uintptr_t> refused_regions_;  // begin → one past the end
  std::string refusal_;
  bool resident_activations_ = false;
  bool check_host_access_ = false;
  bool overlap_launches_ = true;
  std::size_t overlap_max_tokens_ = 0;
  bool overlap_now_ = true;  // launches overlap: on, and the current batch is small enough (start_batch)
  std::map<std::uintptr_t, held_result> held_;  // by the first host byte
  struct held_memory {
    std::byte* memory;
    std::size_t bytes;
    std::size_t used;
  };
  std::vector<held_memory> held_memory_;
  std::size_t held_chunk_bytes_ = 0;  // the size of the chunks merged at the last reuse
};

static_assert(device_policy<hip_device>);

}  // namespace strix
