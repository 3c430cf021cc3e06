// The device_policy concept: what a block may ask of a device. A policy is a type with a memory
// space and an execution context (thread pool, GPU stream) and the kernel set below; a block
// written `template <device_policy D>` runs on every policy. The concept checks the kernel set
// with a representative weight format (Q8_0): a policy must implement matmul and embedding for
// every block_format, natively or by falling back to the reference kernels as its header says.
//
// A policy may keep the results of its calls in its own memory (the hip policy's resident
// activations) rather than in the host memory the views name. So a block that reads or writes
// values on the host between policy calls, where a call since the last synchronize() may have
// written them, says so first with host_access() (a no-op on the CPU policies); a batch of calls
// ends with synchronize(), after which host memory holds every result, or, when left by an
// exception, with discard_activations() (device_batch.hpp does both). The same holds for the K/V
// rows write_kv puts into a paged KV cache: the cache's host memory has them after synchronize(),
// and until then the host neither reads nor writes the cache's blocks (appends, forks and
// truncations, which move only tables, are fine).
//
// Optional: dev.matmul_pair(a, b, in, out_a, out_b), two matrices of one format by the same
// activations, each output with the bits matmul would give it. multiply_pair (weight_matrix.hpp)
// calls it where a policy has it (the hip policy: one launch for a decode token's gate and up),
// else matmul twice.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <strix/core/buffer.hpp>
#include <strix/core/tensor_view.hpp>
#include <strix/device/attention_params.hpp>
#include <strix/device/deltanet_params.hpp>
#include <strix/device/kernel_limits.hpp>
#include <strix/device/kernel_params.hpp>
#include <strix/device/matmul_groups.hpp>
#include <strix/quant/q8_formats.hpp>
#include <strix/quant/quantized_view.hpp>

namespace strix {

template <class D>
concept device_policy =
    memory_space<typename D::memory_space> && requires { { D::name } -> std::convertible_to<std::string_view>; } &&
    requires(D& dev, const quantized_view<q8_0_format>& weights, matrix_view<const float> in, matrix_view<float> out,
             std::span<const float> values, std::span<float> result, tensor_view<float, 3> heads,
             std::span<const std::int32_t> ids, std::span<const matmul_group> groups, matrix_view<std::int32_t> chosen,
             rope_frequencies freq, const kv_write_args& store, const attention_args& attend, const deltanet_args& recur) {
      dev.plan(kernel_limits{});
      dev.matmul(weights, in, out);             // out[t][o] = Σ_i W[o][i] · in[t][i]
      dev.grouped_matmul(weights, groups, in, out);  // per group of rows, its slice of W (matmul_groups.hpp)
      dev.embedding(weights, ids, 1.0f, out);   // out[t] = W[ids[t]] · scale
      dev.rmsnorm(in, values, norm_weight::plain, 1e-6f, out);
      dev.rmsnorm_add(in, values, norm_weight::plain, 1e-6f, 1.0f, out);  // out = (out + rmsnorm(in)) · scale
      dev.rope(heads, ids, freq);               // in place, [token][head][dim]
      dev.apply_activation(activation::silu, values, result);
      dev.gated_activation(activation::gelu_tanh, values, values, result);
      dev.softcap(result, 30.0f);
      dev.gather_rows(in, ids, out);            // out[i] = in[ids[i]]
      dev.scatter_add_rows(in, ids, values, out);  // out[ids[i]] += values[i] · in[i]
      dev.softmax(out, 0.0f);                   // each row in place
      { dev.argmax(values) } -> std::same_as<std::size_t>;
      dev.top_k(in, chosen, out);               // per row of in: its k best, best first (k = chosen's columns)
      dev.add(values, values, result);
      dev.copy(in, out);                        // out = in, same shape
      dev.host_access(values);                  // the host reads or writes these values next
      dev.synchronize();                        // every earlier call's results in host memory
      dev.discard_activations();                // forget held results (their memory may be gone)
      dev.scale(result, 0.5f);
      dev.write_kv(store);                      // new K/V rows into a paged KV cache (paged_kv_view.hpp)
      dev.template attention<global_attention>(attend);  // over a paged KV cache
      dev.template attention<sliding_window<512>>(attend);
      dev.deltanet_recurrent(recur);            // Gated DeltaNet, token by token
      dev.deltanet_chunked(recur, 64);          // the same, in chunks of 64 tokens
    };

}  // namespace strix
