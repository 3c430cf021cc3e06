// The decode matmul (one activation row) of Q4_K, Q6_K and Q8_0 weights, whose rows a lane loads
// straight into registers as aligned vectors (a task type per format says what a lane's vectors
// hold and how the activations are laid out to meet them). Against matmul_kernel (kernels.hpp),
// which pays ~150 instructions per 32 Q4_K weights for staging and bookkeeping and leaves the
// activations to a quantizing launch of their own (4 µs on the H100, a fifth of a 4096x14336 Q4_K
// decode), this kernel
// - quantizes the activation row itself, each block into its shared memory (the same arithmetic as
//   quantize_q8_kernel: quantize_q8_lane), so a matmul is one launch;
// - keeps only as many blocks as the GPU holds at once, each warp walking rows gridDim.x · warps
//   apart, so the row is quantized once per block rather than per row group;
// - has the next iteration's loads in flight while it multiplies one, across row boundaries (two
//   or more iterations ahead measured slower in registers (sessions 21 and 28), and so did rings of
//   2-5 iterations copied into shared memory ahead by cp.async or the H100's bulk copies (session
//   29, docs/performance.md)).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <strix/device/hip/host_device.hpp>
#include <strix/device/hip/kernels.hpp>

namespace strix::hip_kernels {

// Tasks' 16-byte pieces of activation codes in shared memory: piece `piece` of task `task` is stored
// so that the 32 lanes of a warp reading the same piece of 32 consecutive tasks read 512 contiguous
// bytes (no bank conflicts).
template <int Pieces>
struct interleaved_pieces {
  // Pieces the codes of `tasks` tasks take (whole groups of 32 tasks).
  STRIX_HOST_DEVICE static constexpr std::size_t count(std::size_t tasks) {
    return (tasks + gpu::warp_size - 1) / gpu::warp_size * gpu::warp_size * Pieces;
  }
  __device__ static row_index index(row_index task, int piece) {
    return (task / gpu::warp_size * Pieces + static_cast<row_index>(piece)) * gpu::warp_size + task % gpu::warp_size;
  }
};

// x (row_length activations, a multiple of 32) → the block's shared memory, by all its threads:
// Activations::store puts each lane's 4 codes where its task layout wants them.
template <int BlockThreads, class Activations>
__device__ void quantize_to_shared(const float* __restrict__ x, row_index row_length, const Activations& row) {
  constexpr int groups = BlockThreads / quantize_q8_lanes;
  const row_index units = row_length / unit_size;
  const int part = static_cast<int>(threadIdx.x) % quantize_q8_lanes;
  for (row_index first = 0; first < units; first += groups) {
    const row_index unit = first + threadIdx.x / quantize_q8_lanes;
    const bool active = unit < units;
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (active) {
#pragma unroll
      for (int k = 0; k < 4; ++k) v[k] = x[unit * unit_size + 4 * part + k];
    }
    const q8_lane_codes q = quantize_q8_lane(v);  // every lane takes part in its shuffles
    if (active) row.store(unit, part, q);
  }
}

// Q4_K's 6-bit scales and mins of sub-blocks 2p and 2p + 1 from a block's 16-byte header (d, dmin,
// scales; k4_scale_min reads the same bytes one by one), as floats d·scale and dmin·min.
struct k4_pair_scales {
  float scale[2];
  float min[2];
  __device__ k4_pair_scales(int4 header, int p) {
    const auto s0 = static_cast<std::uint32_t>(header.y);
    const auto s1 = static_cast<std::uint32_t>(header.z);
    const auto s2 = static_cast<std::uint32_t>(header.w);
    // All 8 sub-blocks' scales and mins, four to a word, then this pair's two bytes of each.
    const bool upper = p >= 2;
    const std::uint32_t scales = upper ? (s2 & 0x0f0f0f0fu) | ((s0 >> 2) & 0x30303030u) : s0 & 0x3f3f3f3fu;
    const std::uint32_t mins = upper ? ((s2 >> 4) & 0x0f0f0f0fu) | ((s1 >> 2) & 0x30303030u) : s1 & 0x3f3f3f3fu;
    const int shift = 16 * (p % 2);
    const auto ds = static_cast<std::uint32_t>(header.x);
    const float d = gpu::half_bits_to_float(static_cast<std::uint16_t>(ds & 0xffffu));
    const float dmin = gpu::half_bits_to_float(static_cast<std::uint16_t>(ds >> 16));
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      scale[s] = d * static_cast<float>((scales >> (shift + 8 * s)) & 0xffu);
      min[s] = dmin * static_cast<float>((mins >> (shift + 8 * s)) & 0xffu);
    }
  }
};

// Where a half of 16 codes of an activation unit goes: a task and one of its pieces.
struct piece_place {
  row_index task;
  int piece;
};

// The quantized activation row of a K-quant task type: each task's codes as Placement::pieces
// interleaved 16-byte pieces (Placement::of(unit, half) says which task and piece a unit's half of
// 16 codes meets) and, per unit and half, its scale and the sum of the half's codes (exact in a
// float: at most 16 · 127), which the formats' offsets (Q4_K's mins, Q6_K's 32) multiply.
template <class Placement>
struct k_quant_activations {
  using pieces = interleaved_pieces<Placement::pieces>;
  int4* codes;
  float2* halves;

  STRIX_HOST_DEVICE static constexpr row_index tasks(std::size_t row_length) { return static_cast<row_index>(row_length / (16 * Placement::pieces)); }
  STRIX_HOST_DEVICE static constexpr std::size_t shared_bytes(std::size_t row_length) {
    return 16 * pieces::count(tasks(row_length)) + row_length / 16 * sizeof(float2);
  }
  __device__ k_quant_activations(int4* shared, row_index row_length)
      : codes(shared), halves(reinterpret_cast<float2*>(shared + pieces::count(tasks(row_length)))) {}

  __device__ void store(row_index unit, int part, const q8_lane_codes& q) const {
    const int half = part / 4;
    const piece_place at = Placement::of(unit, half);
    reinterpret_cast<std::uint32_t*>(codes + pieces::index(at.task, at.piece))[part % 4] = q.word;
    if (part % 4 == 0) halves[2 * unit + static_cast<row_index>(half)] = make_float2(q.d, static_cast<float>(q.half_sum));
  }
  __device__ int4 piece(row_index task, int piece) const { return codes[pieces::index(task, piece)]; }
  __device__ float2 half(row_index unit, int half) const { return halves[2 * unit + static_cast<row_index>(half)]; }
};

// Q4_K: a task is sub-blocks 2p and 2p + 1 of a block (p = task % 4), whose codes share the 32
// bytes qs[32p …] (low nibbles: 2p, high: 2p + 1), loaded as two aligned 16-byte vectors with the
// block's 16-byte header; lanes 4b … 4b + 3 take block b, so a warp's loads cover 8 consecutive
// blocks. (A task per 16 bytes, two lanes per sector, measured slower: 19.4 against 17.7 µs at
// 4096x14336 on the H100.) Rows and weights 16-byte aligned (144-byte blocks keep it; the policy
// checks the weights' address).
struct q4_k_pair_task {
  using format = q4_k_format;
  // The policy's default: decode of at least a quarter as many rows as the GPU holds warps.
  static constexpr std::size_t resident_warps_per_min_row = 4;
  static constexpr row_index codes_vector = offsetof(block_q4_k, qs) / 16;
  static_assert(sizeof(block_q4_k) % 16 == 0 && offsetof(block_q4_k, qs) % 16 == 0 && offsetof(block_q4_k, scales) == 4);

  struct fetched {
    int4 header;
    int4 codes[2];
  };

  // Unit u is sub-block u % 8 of block u / 8, in task u / 2; its halves are the task's pieces
  // 2·(u % 2) and 2·(u % 2) + 1.
  struct placement {
    static constexpr int pieces = 4;
    __device__ static piece_place of(row_index unit, int half) { return {unit / 2, 2 * static_cast<int>(unit % 2) + half}; }
  };
  using activations = k_quant_activations<placement>;

  // Every Q4_K row (whole blocks of 256) fits the tasks.
  static constexpr bool takes(std::size_t) { return true; }
  STRIX_HOST_DEVICE static constexpr row_index tasks(std::size_t row_length) { return activations::tasks(row_length); }

  __device__ static fetched fetch(const std::uint8_t* row, std::size_t, row_index task) {
    const auto* b = reinterpret_cast<const int4*>(row + task / 4 * static_cast<row_index>(sizeof(block_q4_k)));
    return {b[0], {b[codes_vector + 2 * (task % 4)], b[codes_vector + 2 * (task % 4) + 1]}};
  }

  __device__ static float dot(const fetched& f, row_index task, const activations& x) {
    const k4_pair_scales sm(f.header, static_cast<int>(task % 4));
    float sum = 0.0f;
#pragma unroll
    for (int s = 0; s < 2; ++s) {  // sub-block 2p + s
      int products = 0;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int4 c = f.codes[h];
        const int4 a = x.piece(task, 2 * s + h);
        const int words[4][2] = {{c.x, a.x}, {c.y, a.y}, {c.z, a.z}, {c.w, a.w}};
#pragma unroll
        for (const auto& w : words) products = gpu::dot4_i8(static_cast<int>((static_cast<std::uint32_t>(w[0]) >> (4 * s)) & low_nibbles), w[1], products);
      }
      const float2 first = x.half(2 * task + static_cast<row_index>(s), 0);
      const float2 second = x.half(2 * task + static_cast<row_index>(s), 1);
      sum = fmaf(first.x, sm.scale[s] * static_cast<float>(products) - sm.min[s] * (first.y + second.y), sum);
    }
    return sum;
  }
};

// 16 bytes of weights at a 2-byte-aligned address (all Q6_K's 210-byte blocks guarantee), as three
// aligned 8-byte loads — the 24 bytes from the 8-byte boundary at or below the address hold them —
// put in place by `words` once they have arrived.
struct even_piece {
  int2 loaded[3];
  unsigned offset;  // of the piece in `loaded`: 0, 2, 4 or 6 bytes

  __device__ static even_piece load(const std::uint8_t* at) {
    const auto address = reinterpret_cast<std::uintptr_t>(at);
    const auto* aligned = reinterpret_cast<const int2*>(address & ~std::uintptr_t{7});
    return {{aligned[0], aligned[1], aligned[2]}, static_cast<unsigned>(address & 7)};
  }
  __device__ void words(std::uint32_t (&out)[4]) const {
    const std::uint32_t u[6] = {static_cast<std::uint32_t>(loaded[0].x), static_cast<std::uint32_t>(loaded[0].y),
                                static_cast<std::uint32_t>(loaded[1].x), static_cast<std::uint32_t>(loaded[1].y),
                                static_cast<std::uint32_t>(loaded[2].x), static_cast<std::uint32_t>(loaded[2].y)};
    const bool second_word = offset >= 4;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      out[k] = gpu::funnel_shift_bytes(second_word ? u[k + 1] : u[k], second_word ? u[k + 2] : u[k + 1], offset % 4);
    }
  }
};

// Q6_K: a task is 32 weights of a block, k = task % 8 (n = k / 4, q = k / 2 % 2, h = k % 2): the 16
// bytes ql[16k], whose low nibbles are weights 128n + 32q + 16h + i and high nibbles those 64
// further, and the 16 bytes qh[32n + 16h] holding their top 2 bits (bit pairs q and q + 2 of each
// byte), with the two scales of those 16-weight groups and the block's d; lanes 8b … 8b + 7 take
// block b. Blocks are 210 bytes, so 2-byte aligned: the 16-byte pieces are even_pieces, whose
// loads stay inside the block but for a block's first piece (the bytes before it are the previous
// block's, or the first block's own alignment: the policy checks the weights are 16-byte aligned).
// Codes nibble | top bits << 4 are 0 … 63, so signed dot4 is exact; the format's − 32 is 32 × the
// activation half's code sum.
struct q6_k_slice_task {
  using format = q6_k_format;
  // Decode of at least half as many rows as the GPU holds warps (as many as the kernel's 1024-thread
  // blocks hold on the H100): with fewer, a warp's one row is a chain of many dependent iterations
  // (32 weights a lane) and matmul_kernel wins (H100, session 25: 2560x10240 16.8 against 15.2 µs,
  // 4096x14336 24.9 against 24.2; 10240x2560 15.2 against 16.1, 262144x2560 212 against 226).
  static constexpr std::size_t resident_warps_per_min_row = 2;
  static_assert(sizeof(block_q6_k) == 210 && offsetof(block_q6_k, qh) == 128 && offsetof(block_q6_k, scales) == 192 &&
                offsetof(block_q6_k, d) == 208);
  static constexpr std::uint32_t top_bits = 0x30303030u;

  struct fetched {
    even_piece low;
    even_piece high;
    std::uint16_t scales[2];  // the bytes sc[8n + 2q + 4j], sc[8n + 2q + 4j + 1] for j = 0, 1 (h picks one)
    std::uint16_t d;
  };

  // Unit u (32 codes) is weights 32·(u % 8) … of block u / 8: n = u % 8 / 4, and u % 4 = q + 2j
  // (j: low or high nibbles); its half h goes to task 8·(u / 8) + 4n + 2q + h as piece j.
  struct placement {
    static constexpr int pieces = 2;
    __device__ static piece_place of(row_index unit, int half) {
      const row_index in_block = unit % 8;
      return {unit / 8 * 8 + in_block / 4 * 4 + in_block % 2 * 2 + static_cast<row_index>(half), static_cast<int>(in_block % 4 / 2)};
    }
  };
  using activations = k_quant_activations<placement>;

  // Every Q6_K row (whole blocks of 256) fits the tasks.
  static constexpr bool takes(std::size_t) { return true; }
  STRIX_HOST_DEVICE static constexpr row_index tasks(std::size_t row_length) { return activations::tasks(row_length); }

  __device__ static fetched fetch(const std::uint8_t* row, std::size_t, row_index task) {
    const std::uint8_t* block = row + task / 8 * static_cast<row_index>(sizeof(block_q6_k));
    const auto k = static_cast<int>(task % 8);
    const int n = k / 4, q = k / 2 % 2, h = k % 2;
    const auto pair = [&](int at) { return *reinterpret_cast<const std::uint16_t*>(block + at); };
    return {even_piece::load(block + 16 * k), even_piece::load(block + 128 + 32 * n + 16 * h),
            {pair(192 + 8 * n + 2 * q), pair(192 + 8 * n + 2 * q + 4)}, pair(208)};
  }

  __device__ static float dot(const fetched& f, row_index task, const activations& x) {
    const auto k = static_cast<int>(task % 8);
    const int n = k / 4, q = k / 2 % 2, h = k % 2;
    std::uint32_t low[4], high[4];
    f.low.words(low);
    f.high.words(high);
#pragma unroll
    for (std::uint32_t& w : high) w >>= 2 * q;
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < 2; ++j) {  // low nibbles with bit pair q, high nibbles with bit pair q + 2
      const int4 a = x.piece(task, j);
      const int codes[4] = {a.x, a.y, a.z, a.w};
      int products = 0;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const std::uint32_t weights = ((low[i] >> (4 * j)) & low_nibbles) | ((j == 0 ? high[i] << 4 : high[i]) & top_bits);
        products = gpu::dot4_i8(static_cast<int>(weights), codes[i], products);
      }
      const float2 unit = x.half(task / 8 * 8 + static_cast<row_index>(4 * n + q + 2 * j), h);
      const auto scale = static_cast<std::int8_t>(f.scales[j] >> (8 * h));
      sum = fmaf(unit.x * static_cast<float>(scale), static_cast<float>(products) - 32.0f * unit.y, sum);
    }
    return gpu::half_bits_to_float(f.d) * sum;
  }
};

// Q8_0: a task is 32 bytes of a row as they lie, loaded as two aligned 16-byte vectors whatever the
// 34-byte blocks they cut through (a block itself is only 2-byte aligned: matmul_kernel stages it
// through shared memory, which bounded it at ~2.2 TB/s on the H100). The activation codes are laid
// out in shared memory as the weights are — each code under the weight code it multiplies, zero
// under the scale bytes — so every 4-byte word of weights meets its activation word in one dot4.
// A word never holds codes of two blocks (a block starts at an even offset 34b with its 2-byte
// scale, its codes at 34b + 2), and 32 bytes hold words of at most two blocks, whose sums the lane
// keeps apart. Rows of whole 16-byte vectors (a multiple of 8 blocks), so that every row starts
// aligned; a row of an odd number of 16-byte vectors ends in a task of one.
struct q8_0_span_task {
  using format = q8_0_format;
  static constexpr std::size_t resident_warps_per_min_row = 4;  // as Q4_K's
  static constexpr row_index span = 32;
  static constexpr row_index block_bytes = sizeof(block_q8_0);
  static_assert(block_bytes == 34 && offsetof(block_q8_0, qs) == 2 && block_bytes > span);

  struct fetched {
    int4 codes[2];
    std::uint16_t scales[2];  // f16 bits of the two blocks the span touches (the same one twice at a row's end)
  };

  STRIX_HOST_DEVICE static constexpr row_index row_bytes(std::size_t row_length) {
    return static_cast<row_index>(row_length / format::block_size) * block_bytes;
  }

  // The quantized activation row in the weights' byte layout (2 interleaved pieces per task), then
  // the scale of each unit of 32.
  struct activations {
    using pieces = interleaved_pieces<2>;
    int4* codes;
    float* scales;
    row_index units;

    STRIX_HOST_DEVICE static constexpr std::size_t shared_bytes(std::size_t row_length) {
      return 16 * pieces::count(tasks(row_length)) + row_length / unit_size * sizeof(float);
    }
    __device__ activations(int4* shared, row_index row_length)
        : codes(shared), scales(reinterpret_cast<float*>(shared + pieces::count(tasks(row_length)))), units(row_length / unit_size) {}

    // The codes go where the weight codes they multiply lie (from byte 34u + 2 + 4·part, only
    // 2-byte aligned), a zero under the block's scale bytes.
    __device__ void store(row_index unit, int part, const q8_lane_codes& q) const {
      const row_index at = unit * block_bytes + static_cast<row_index>(offsetof(block_q8_0, qs)) + 4 * static_cast<row_index>(part);
      put(at, static_cast<std::uint16_t>(q.word & 0xffffu));
      put(at + 2, static_cast<std::uint16_t>(q.word >> 16));
      if (part == 0) {
        put(unit * block_bytes, 0);
        scales[unit] = q.d;
      }
    }
    __device__ void put(row_index byte, std::uint16_t bits) const {
      reinterpret_cast<std::uint16_t*>(codes + pieces::index(byte / span, static_cast<int>(byte % span / 16)))[byte % 16 / 2] = bits;
    }
    __device__ int4 piece(row_index task, int piece) const { return codes[pieces::index(task, piece)]; }
    __device__ float scale(row_index unit) const { return scales[unit < units ? unit : units - 1]; }
  };

  static constexpr bool takes(std::size_t row_length) { return row_length % (8 * format::block_size) == 0; }
  STRIX_HOST_DEVICE static constexpr row_index tasks(std::size_t row_length) { return (row_bytes(row_length) + span - 1) / span; }

  // The block in which task `task`'s span begins.
  __device__ static row_index first_block(row_index task) { return task * span / block_bytes; }

  __device__ static fetched fetch(const std::uint8_t* row, std::size_t row_length, row_index task) {
    const auto* vectors = reinterpret_cast<const int4*>(row + task * span);
    const row_index blocks = static_cast<row_index>(row_length / format::block_size);
    const row_index first = first_block(task);
    const row_index second = first + 1 < blocks ? first + 1 : first;
    const auto scale = [&](row_index block) { return *reinterpret_cast<const std::uint16_t*>(row + block * block_bytes); };
    return {{vectors[0], task * span + 16 < row_bytes(row_length) ? vectors[1] : int4{0, 0, 0, 0}}, {scale(first), scale(second)}};
  }

  __device__ static float dot(const fetched& f, row_index task, const activations& x) {
    const row_index first = first_block(task);
    // Where in the span the next block begins (2 … 34): words before it are the first block's.
    const row_index next = (first + 1) * block_bytes - task * span;
    const int4 a0 = x.piece(task, 0);
    const int4 a1 = x.piece(task, 1);
    const int words[8][2] = {{f.codes[0].x, a0.x}, {f.codes[0].y, a0.y}, {f.codes[0].z, a0.z}, {f.codes[0].w, a0.w},
                             {f.codes[1].x, a1.x}, {f.codes[1].y, a1.y}, {f.codes[1].z, a1.z}, {f.codes[1].w, a1.w}};
    int total = 0;
    int in_first = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      total = gpu::dot4_i8(words[i][0], words[i][1], total);
      if (4 * static_cast<row_index>(i) < next) in_first = total;
    }
    return x.scale(first) * gpu::half_bits_to_float(f.scales[0]) * static_cast<float>(in_first) +
           x.scale(first + 1) * gpu::half_bits_to_float(f.scales[1]) * static_cast<float>(total - in_first);
  }
};

template <class Format>
struct fused_decode_task;
template <>
struct fused_decode_task<q4_k_format> : q4_k_pair_task {};
template <>
struct fused_decode_task<q8_0_format> : q8_0_span_task {};
template <>
struct fused_decode_task<q6_k_format> : q6_k_slice_task {};

template <class Format>
concept has_fused_decode = requires { typename fused_decode_task<Format>::fetched; };

inline constexpr int fused_decode_threads = 1024;

// Shared memory of a fused decode block: the quantized activation row.
template <class Task>
constexpr std::size_t fused_decode_shared_bytes(std::size_t row_length) {
  return Task::activations::shared_bytes(row_length);
}

// The rows a fused decode multiplies: one matrix's, or those of two matrices that share the
// activation row (a gated FFN's gate and up: one launch instead of two, streaming twice the bytes
// a launch), the second's rows numbered after the first's. One matrix: first_rows is all of them.
struct decode_matrices {
  const std::uint8_t* first;
  float* first_out;
  std::size_t first_rows;
  const std::uint8_t* second = nullptr;
  float* second_out = nullptr;

  __device__ const std::uint8_t* row(std::size_t r, std::size_t row_bytes) const {
    return r < first_rows ? first + r * row_bytes : second + (r - first_rows) * row_bytes;
  }
  __device__ float* out(std::size_t r) const { return r < first_rows ? first_out + r : second_out + (r - first_rows); }
};

// out(r) = weight row r · x for the `rows` rows: each warp takes rows first, first + gridDim.x · warps,
// …, 32 tasks of a row per iteration, with the next iteration's loads in flight while it multiplies
// one (the first issued before the block quantizes x). Launch fused_decode_threads
// threads per block with fused_decode_shared_bytes<Task>(row_length) of shared memory and at most
// as many blocks as the GPU holds at once (a block that waited for another's end would quantize x
// again and finish late).
template <class Task>
__global__ void __launch_bounds__(fused_decode_threads)
    fused_decode_kernel(decode_matrices matrices, std::size_t rows, std::size_t row_length, const float* __restrict__ x) {
  using fetched = typename Task::fetched;
  constexpr int warps = fused_decode_threads / gpu::warp_size;
  extern __shared__ int4 shared[];
  const row_index tasks = Task::tasks(row_length);
  const row_index iterations = (tasks + gpu::warp_size - 1) / gpu::warp_size;
  const std::size_t row_bytes = row_length / Task::format::block_size * sizeof(typename Task::format::block_type);
  const typename Task::activations activations(shared, static_cast<row_index>(row_length));
  const int warp = static_cast<int>(threadIdx.x) / gpu::warp_size;
  const int lane = static_cast<int>(threadIdx.x) % gpu::warp_size;
  const std::size_t row_step = static_cast<std::size_t>(gridDim.x) * warps;

  // A position in the warp's walk: a row and the lane's task in it.
  struct position {
    std::size_t row;
    row_index task;
  };
  const auto advance = [&](position& p) {
    p.task += gpu::warp_size;
    if (p.task - static_cast<row_index>(lane) >= iterations * gpu::warp_size) {
      p.task = static_cast<row_index>(lane);
      p.row += row_step;
    }
  };
  const auto fetch = [&](const position& p) { return p.row < rows && p.task < tasks ? Task::fetch(matrices.row(p.row, row_bytes), row_length, p.task) : fetched{}; };

  position at{static_cast<std::size_t>(blockIdx.x) * warps + static_cast<std::size_t>(warp), static_cast<row_index>(lane)};
  position ahead = at;
  fetched next = fetch(ahead);
  advance(ahead);
  // The weight loads above overlap the end of the kernel before, which may still write x.
  gpu::follow_previous_kernel();
  quantize_to_shared<fused_decode_threads>(x, static_cast<row_index>(row_length), activations);
  __syncthreads();
  float acc = 0.0f;
  while (at.row < rows) {
    const fetched current = next;
    next = fetch(ahead);
    advance(ahead);
    if (at.task < tasks) acc += Task::dot(current, at.task, activations);
    const std::size_t row = at.row;
    advance(at);
    if (at.row != row) {
      acc = gpu::warp_sum(acc);
      if (lane == 0) *matrices.out(row) = acc;
      acc = 0.0f;
    }
  }
}

}  // namespace strix::hip_kernels
