// strix logits / strix generate: run a Gemma 4 model (GGUF file or Hugging Face folder) or a
// Qwen3.5 model (Hugging Face folder) on token ids. logits writes every prompt position's logits as raw little-endian f32 (tokens × vocab,
// row-major); generate decodes greedily and prints the new ids (text once tokenizers land).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <strix/device/reference/reference.hpp>
#if STRIX_TOOL_ZEN5
#include <strix/device/zen5/zen5.hpp>
#endif
#include <strix/quant/kv_type.hpp>

#include "commands.hpp"
#include "models/gemma4.hpp"
#include "models/gemma4_files.hpp"
#include "models/hf_tensors.hpp"
#include "models/qwen35.hpp"
#include "models/sequence_runner.hpp"
#include "models/prefault.hpp"

namespace strix::tool {
namespace {

// Windows of released Gemma 4 models, and of the tiny test models the project generates.
template <class Device>
using gemma4_model = models::gemma4<Device, 8, 16, 512, 1024>;

struct run_options {
  std::string model;
  std::string device = STRIX_TOOL_ZEN5 ? "zen5" : "reference";
  unsigned threads = 0;
  std::string kv = "f16";
  std::size_t chunk = 512;
};

void add_run_options(CLI::App& cmd, run_options& o) {
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
};

template <class Device, class Model, class Cache>
class session_of final : public model_session<Device> {
 public:
  session_of(Model model, Cache cache, std::size_t chunk) : runner_(std::move(model), std::move(cache), chunk) {}
  [[nodiscard]] std::size_t vocab() const override { return runner_.vocab(); }
  std::vector<float> run(Device& dev, std::span<const std::int32_t> tokens, bool all_rows) override {
    return runner_.run(dev, tokens, all_rows);
  }

 private:
  models::sequence_runner<Device, Model, Cache> runner_;
};

// The weights, brought into memory with a progress line on stderr when they are large.
models::gemma4_weights loaded(const std::string& path, const models::weight_source& source, const models::gemma4_config& config) {
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
bool is_qwen35_folder(const std::string& path) {
  if (is_gguf_file(path)) return false;
  const std::string type = models::hf_tensors(path).config().value("model_type", std::string());
  return type.rfind("qwen3_5", 0) == 0;
}

template <class Device>
std::unique_ptr<model_session<Device>> open_session(const run_options& o, std::size_t context) {
  const kv_cache_options options{parse_kv_type(o.kv), 16, 1, o.chunk, 0};
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

void check_tokens(const std::vector<std::int32_t>& tokens, std::size_t vocab) {
  if (tokens.empty()) throw error(error_category::shape, "no prompt tokens given");
  for (std::int32_t t : tokens) {
    if (t < 0 || static_cast<std::size_t>(t) >= vocab) {
      throw error(error_category::shape, "token id " + std::to_string(t) + " is outside the vocabulary (0…" + std::to_string(vocab - 1) + ")");
    }
  }
}

}  // namespace

void add_logits_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "write the logits of every prompt position (raw f32, tokens × vocab)");
  auto o = std::make_shared<run_options>();
  auto tokens = std::make_shared<std::vector<std::int32_t>>();
  auto out = std::make_shared<std::string>();
  add_run_options(*cmd, *o);
  cmd->add_option("--tokens", *tokens, "token ids, comma separated")->required()->delimiter(',');
  cmd->add_option("--out", *out, "output file")->required();
  cmd->callback([o, tokens, out] {
    with_device(*o, [&](auto& dev) {
      auto session = open_session<std::decay_t<decltype(dev)>>(*o, tokens->size());
      check_tokens(*tokens, session->vocab());
      const auto logits = session->run(dev, *tokens, true);
      std::ofstream file(*out, std::ios::binary | std::ios::trunc);
      file.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
      if (!file) throw error(error_category::io, *out + ": write failed");
    });
  });
}

void add_generate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "greedy decoding from prompt token ids");
  auto o = std::make_shared<run_options>();
  auto tokens = std::make_shared<std::vector<std::int32_t>>();
  auto prompt = std::make_shared<std::string>();
  auto count = std::make_shared<std::size_t>(16);
  auto json = std::make_shared<bool>(false);
  add_run_options(*cmd, *o);
  auto* ids = cmd->add_option("--prompt-tokens", *tokens, "prompt token ids, comma separated")->delimiter(',');
  auto* text = cmd->add_option("--prompt", *prompt, "prompt text (needs a tokenizer)");
  ids->excludes(text);
  cmd->add_option("-n", *count, "tokens to generate");
  cmd->add_flag("--json", *json, "one JSON object: {\"tokens\": [...], \"text\": ...}");
  cmd->callback([o, tokens, prompt, count, json] {
    if (tokens->empty()) {
      throw error(error_category::unsupported, prompt->empty() ? "give --prompt-tokens or --prompt"
                                                               : "--prompt needs a tokenizer, which strix does not have yet; use --prompt-tokens");
    }
    with_device(*o, [&](auto& dev) {
      auto session = open_session<std::decay_t<decltype(dev)>>(*o, tokens->size() + *count);
      check_tokens(*tokens, session->vocab());
      std::vector<std::int32_t> generated;
      std::vector<float> logits = session->run(dev, *tokens, false);
      for (std::size_t n = 0; n < *count; ++n) {
        generated.push_back(static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
        if (n + 1 < *count) logits = session->run(dev, std::span(&generated.back(), 1), false);
      }
      std::string ids_text;
      for (std::size_t i = 0; i < generated.size(); ++i) {
        if (i > 0) ids_text += *json ? ',' : ' ';
        ids_text += std::to_string(generated[i]);
      }
      if (*json) std::printf("{\"tokens\":[%s],\"text\":null}\n", ids_text.c_str());
      else std::printf("%s\n", ids_text.c_str());
    });
  });
}

}  // namespace strix::tool
