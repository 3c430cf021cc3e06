// strix convert HF_FOLDER OUT.gguf [--type T]: a Hugging Face Gemma 4 or Qwen3.5 checkpoint as a
// GGUF file with llama.cpp's names, keys and tensor transformations (archs gemma4, qwen35,
// qwen35moe); matrices stored as T where their row length allows, norms and scales as F32; the
// folder's tokenizer.json, when present, becomes the file's tokenizer metadata. Progress goes to
// stderr.
#include <cstdio>
#include <string>
#include <type_traits>
#include <variant>

#include <strix/quant/ggml_type.hpp>

#include "commands.hpp"
#include "model_session.hpp"
#include "models/gemma4_gguf.hpp"
#include "models/model_vocabulary.hpp"
#include "models/qwen35_gguf.hpp"

namespace strix::tool {

void add_convert_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("convert", "convert a Hugging Face Gemma 4 or Qwen3.5 folder to GGUF");
  auto in = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto type = std::make_shared<std::string>("f32");
  cmd->add_option("folder", *in, "Hugging Face folder (config.json + safetensors)")->required();
  cmd->add_option("out", *out, "GGUF file to write")->required();
  cmd->add_option("--type", *type, "type of the weight matrices (f32, f16, bf16, q8_0, q4_0, q4_K, q6_K, ...)");
  cmd->callback([in, out, type] {
    const model_spec spec = open_model(*in);
    if (spec.source->naming() != models::tensor_naming::hugging_face) {
      throw error(error_category::unsupported, *in + ": convert reads Hugging Face folders (this is a GGUF file already)");
    }
    const ggml_type target = ggml_type_named(*type);
    const std::optional<text::vocabulary> vocabulary = models::load_model_vocabulary(*in);
    std::size_t shown = 101;  // percent last shown
    auto progress = [&](std::size_t done, std::size_t total) {
      const std::size_t percent = done * 100 / total;
      if (percent == shown) return;
      shown = percent;
      std::fprintf(stderr, "\rconverting %s: %3zu %% (%zu / %zu tensors)", in->c_str(), percent, done, total);
      if (done == total) std::fprintf(stderr, "\n");
    };
    std::visit([&](const auto& config) {
      if constexpr (std::is_same_v<std::decay_t<decltype(config)>, models::qwen35_config>) {
        models::write_qwen35_gguf(*spec.source, config, target, *out, progress, vocabulary ? &*vocabulary : nullptr);
      } else {
        models::write_gemma4_gguf(*spec.source, config, target, *out, progress, vocabulary ? &*vocabulary : nullptr);
      }
    }, spec.config);
  });
}

}  // namespace strix::tool
