// strix logits / strix generate: run a Gemma 4 model (GGUF file or Hugging Face folder) or a
// Qwen3.5 model (Hugging Face folder) on token ids or text. logits writes every prompt position's
// logits as raw little-endian f32 (tokens × vocab, row-major); generate decodes greedily and prints
// the text (or the new ids when the model has no tokenizer).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <optional>

#include <nlohmann/json.hpp>
#include <strix/sample/sampler.hpp>
#include <strix/text/tokenizer.hpp>

#include "commands.hpp"
#include "model_session.hpp"
#include "models/model_vocabulary.hpp"

namespace strix::tool {
namespace {

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
    if (tokens->empty() && prompt->empty()) throw error(error_category::format, "give --prompt-tokens or --prompt");
    std::optional<text::tokenizer> tok;
    if (auto vocabulary = models::load_model_vocabulary(o->model)) tok.emplace(std::move(*vocabulary), o->model);
    if (!prompt->empty()) {
      if (!tok) throw error(error_category::format, o->model + ": --prompt needs a tokenizer and the model has none; use --prompt-tokens");
      *tokens = tok->encode(*prompt, {.add_bos = tok->vocab().add_bos, .parse_control = true});
    }
    with_device(*o, [&](auto& dev) {
      auto session = open_session<std::decay_t<decltype(dev)>>(*o, tokens->size() + *count);
      check_tokens(*tokens, session->vocab());
      std::vector<std::int32_t> generated;
      std::vector<float> logits = session->run(dev, *tokens, false);
      for (std::size_t n = 0; n < *count; ++n) {
        const auto next = sample::sampler::argmax(logits);
        // With a tokenizer, generation ends at its end-of-sequence or end-of-turn token.
        if (tok && (next == tok->eos() || next == tok->end_of_turn())) break;
        generated.push_back(next);
        if (n + 1 < *count) logits = session->run(dev, std::span(&generated.back(), 1), false);
      }
      std::string ids_text;
      for (std::size_t i = 0; i < generated.size(); ++i) {
        if (i > 0) ids_text += *json ? ',' : ' ';
        ids_text += std::to_string(generated[i]);
      }
      const std::optional<std::string> decoded = tok ? std::optional(tok->decode(generated, true)) : std::nullopt;
      if (*json) {
        const nlohmann::json text_json = decoded ? nlohmann::json(*decoded) : nlohmann::json(nullptr);
        std::printf("{\"tokens\":[%s],\"text\":%s}\n", ids_text.c_str(),
                    text_json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      } else {
        std::printf("%s\n", decoded ? decoded->c_str() : ids_text.c_str());
      }
    });
  });
}

}  // namespace strix::tool
