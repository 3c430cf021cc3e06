// The model a tool command runs: options shared by logits, generate and chat, a one-sequence
// session over any supported architecture (Gemma 4 GGUF or folder, Qwen3.5 folder), and the
// device policy chosen on the command line.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <strix/device/reference/reference.hpp>
#if STRIX_TOOL_ZEN5
#include <strix/device/zen5/zen5.hpp>
#endif
#include <strix/quant/kv_type.hpp>

#include "models/gemma4.hpp"
#include "models/gemma4_files.hpp"
#include "models/hf_tensors.hpp"
#include "models/prefault.hpp"
#include "models/qwen35.hpp"
#include "models/sequence_runner.hpp"

namespace strix::tool {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline double per_second(std::size_t count, double seconds) { return static_cast<double>(count) / std::max(seconds, 1e-9); }

// Windows of released Gemma 4 models (512, 1024), of the shipped tiny chat model (128) and of the
// tiny test models (8, 16).
template <class Device>
using gemma4_model = models::gemma4<Device, 8, 16, 128, 512, 1024>;

struct run_options {
  std::string model;
  std::string device = STRIX_TOOL_ZEN5 ? "zen5" : "reference";
  unsigned threads = 0;
  std::string kv = "f16";
  std::size_t chunk = 512;
};

inline void add_run_options(CLI::App& cmd, run_options& o) {
  cmd.add_option("--model", o.model, "GGUF file or Hugging Face folder")->required();
  cmd.add_option("--device", o.device, "zen5 or reference")->check(CLI::IsMember({"zen5", "reference"}));
  cmd.add_option("-t,--threads", o.threads, "threads for zen5 (default: all)");
  cmd.add_option("--kv-type", o.kv, "KV cache type: f32, f16, bf16, q8_0, q4_0");
  cmd.add_option("--chunk", o.chunk, "prefill chunk (tokens per step)")->check(CLI::PositiveNumber);
}

// A model and a one-sequence cache sized for `context` tokens, whatever the architecture.
template <class Device>
class model_session {
 public:
  virtual ~model_session() = default;
  [[nodiscard]] virtual std::size_t vocab() const = 0;
  // Runs `tokens` in chunks; returns the logits of every row (all_rows) or of the last one.
  virtual std::vector<float> run(Device& dev, std::span<const std::int32_t> tokens, bool all_rows) = 0;
  // Tokens in the cache.
  [[nodiscard]] virtual std::size_t length() const = 0;
  // Forgets all but the first `length` tokens: exactly where the cache can roll back, else by
  // starting the sequence afresh (the caller then re-feeds the kept tokens).
  // Returns the length actually kept (`length` or 0).
  virtual std::size_t truncate(std::size_t length) = 0;
  // Keeps exactly `length` tokens, or returns false and changes nothing.
  [[nodiscard]] virtual bool try_truncate(std::size_t length) = 0;
};

template <class Device, class Model, class Cache>
class session_of final : public model_session<Device> {
 public:
  session_of(Model model, Cache cache, std::size_t chunk) : runner_(std::move(model), std::move(cache), chunk) {}
  [[nodiscard]] std::size_t vocab() const override { return runner_.vocab(); }
  std::vector<float> run(Device& dev, std::span<const std::int32_t> tokens, bool all_rows) override {
    return runner_.run(dev, tokens, all_rows);
  }
  [[nodiscard]] std::size_t length() const override { return runner_.length(); }
  std::size_t truncate(std::size_t length) override { return runner_.truncate(length); }
  [[nodiscard]] bool try_truncate(std::size_t length) override { return runner_.try_truncate(length); }

 private:
  models::sequence_runner<Device, Model, Cache> runner_;
};

// The weights, brought into memory with a progress line on stderr when they are large.
inline models::gemma4_weights loaded(const std::string& path, const models::weight_source& source, const models::gemma4_config& config) {
  models::gemma4_weights weights = models::gemma4_weights::load(source, config);
  std::vector<std::span<const std::byte>> ranges;
  weights.for_each_tensor([&](const weight_matrix& m) { ranges.push_back(m.bytes()); }, [](const std::vector<float>&) {});
  std::uint64_t total = 0;
  for (const auto& r : ranges) total += r.size();
  if (total < (std::uint64_t{256} << 20)) return weights;
  models::prefault(ranges, [&](std::uint64_t done, std::uint64_t all) {
    std::fprintf(stderr, "\rloading %s: %3d %% (%.2f / %.2f GB)", path.c_str(), static_cast<int>(done * 100 / all),
                 static_cast<double>(done) / 1e9, static_cast<double>(all) / 1e9);
    if (done == all) std::fprintf(stderr, "\n");
  });
  return weights;
}

// Whether a Hugging Face folder holds a Qwen3.5 model (else it is taken for Gemma 4).
inline bool is_qwen35_folder(const std::string& path) {
  if (is_gguf_file(path)) return false;
  const std::string type = models::hf_tensors(path).config().value("model_type", std::string());
  return type.rfind("qwen3_5", 0) == 0;
}

template <class Device>
// `max_rollback`: how far past its newest append the cache must be able to truncate exactly (the
// longest speculative draft + 1).
std::unique_ptr<model_session<Device>> open_session(const run_options& o, std::size_t context, std::size_t max_rollback = 0) {
  const kv_cache_options options{parse_kv_type(o.kv), 16, 1, o.chunk, max_rollback};
  if (is_qwen35_folder(o.model)) {
    const models::hf_tensors tensors(o.model);
    models::qwen35_config config = models::qwen35_config::from_json(tensors.config(), o.model + "/config.json");
    models::qwen35<Device> model(config, models::qwen35_weights::load(tensors, config));
    const std::size_t budget = models::qwen35_cache::layout_for(config, options).budget_for_context(context);
    return std::make_unique<session_of<Device, models::qwen35<Device>, models::qwen35_cache>>(
        std::move(model), models::qwen35_cache(config, options, budget), o.chunk);
  }
  models::gemma4_files files = models::open_gemma4(o.model);
  gemma4_model<Device> model(files.config, loaded(o.model, *files.source, files.config));
  const kv_layout layout = model.cache_layout(options);
  return std::make_unique<session_of<Device, gemma4_model<Device>, paged_kv_cache>>(
      std::move(model), paged_kv_cache(layout, layout.budget_for_context(context)), o.chunk);
}

// Calls f(device) with the chosen policy.
template <class F>
void with_device(const run_options& o, F&& f) {
  if (o.device == "reference") {
    reference dev;
    f(dev);
    return;
  }
#if STRIX_TOOL_ZEN5
  thread_pool pool(o.threads ? o.threads : std::max(1u, std::thread::hardware_concurrency()));
  zen5 dev(pool);
  f(dev);
#else
  throw error(error_category::unsupported, "this strix was built without the zen5 policy (STRIX_TOOL_ZEN5=OFF); use --device reference");
#endif
}


}  // namespace strix::tool
