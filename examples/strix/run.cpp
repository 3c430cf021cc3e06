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

#include <chrono>
#include <optional>

#include <nlohmann/json.hpp>
#include <strix/sample/sampler.hpp>
#include <strix/spec/speculative_decoder.hpp>
#include <strix/text/tokenizer.hpp>

#include "commands.hpp"
#include "model_session.hpp"
#include "models/model_vocabulary.hpp"
#include "models/spec_session.hpp"

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
  auto* cmd = app.add_subcommand("generate", "greedy decoding from prompt token ids or text, optionally speculative");
  auto o = std::make_shared<run_options>();
  auto tokens = std::make_shared<std::vector<std::int32_t>>();
  auto prompt = std::make_shared<std::string>();
  auto count = std::make_shared<std::size_t>(16);
  auto json = std::make_shared<bool>(false);
  auto draft = std::make_shared<std::string>();
  auto ngram = std::make_shared<bool>(false);
  auto draft_max = std::make_shared<std::size_t>(8);
  auto compare = std::make_shared<bool>(false);
  add_run_options(*cmd, *o);
  auto* ids = cmd->add_option("--prompt-tokens", *tokens, "prompt token ids, comma separated")->delimiter(',');
  auto* text = cmd->add_option("--prompt", *prompt, "prompt text (needs a tokenizer)");
  ids->excludes(text);
  cmd->add_option("-n", *count, "tokens to generate");
  cmd->add_flag("--json", *json, "one JSON object: {\"tokens\": [...], \"text\": ...}");
  auto* draft_option = cmd->add_option("--draft", *draft, "speculative decoding with this draft model (same tokenizer)");
  cmd->add_flag("--ngram", *ngram, "speculative decoding with n-gram prompt lookup")->excludes(draft_option);
  cmd->add_option("--draft-max", *draft_max, "most drafted tokens per step (adaptive below it)")->check(CLI::Range(1, 32));
  cmd->add_flag("--compare", *compare, "also run plain greedy decoding: check the output is identical and report the speed-up");
  cmd->callback([=] {
    if (tokens->empty() && prompt->empty()) throw error(error_category::format, "give --prompt-tokens or --prompt");
    std::optional<text::tokenizer> tok;
    if (auto vocabulary = models::load_model_vocabulary(o->model)) tok.emplace(std::move(*vocabulary), o->model);
    if (!prompt->empty()) {
      if (!tok) throw error(error_category::format, o->model + ": --prompt needs a tokenizer and the model has none; use --prompt-tokens");
      *tokens = tok->encode(*prompt, {.add_bos = tok->vocab().add_bos, .parse_control = true});
    }
    const bool speculative = *ngram || !draft->empty();
    if (!draft->empty()) check_same_tokenizer(tok ? &tok->vocab().pieces : nullptr, *draft);
    std::vector<spec::token_id> stop;
    if (tok) {
      for (const auto t : {tok->eos(), tok->end_of_turn()}) {
        if (t != text::no_token) stop.push_back(t);
      }
    }
    with_device(*o, [&](auto& dev) {
      using Device = std::decay_t<decltype(dev)>;
      const std::size_t rollback = speculative ? *draft_max + 1 : 0;
      const std::size_t context = tokens->size() + *count + rollback;
      auto session = open_session<Device>(*o, context, rollback);
      check_tokens(*tokens, session->vocab());
      // Plain greedy decoding; stops before a stop token.
      const auto plain = [&] {
        session->truncate(0);
        std::vector<std::int32_t> out;
        std::vector<float> logits = session->run(dev, *tokens, false);
        for (std::size_t n = 0; n < *count; ++n) {
          const auto next = sample::sampler::argmax(logits);
          if (std::find(stop.begin(), stop.end(), next) != stop.end()) break;
          out.push_back(next);
          if (n + 1 < *count) logits = session->run(dev, std::span(&out.back(), 1), false);
        }
        return out;
      };
      std::vector<std::int32_t> generated;
      if (!speculative) {
        generated = plain();
      } else {
        models::spec_session<Device, model_session<Device>> target(dev, *session);
        spec::speculative_decoder decoder(target, sample::sampler({.temperature = 0.0f}),
                                          {.max_draft = *draft_max, .first_draft = std::min<std::size_t>(4, *draft_max)});
        std::unique_ptr<model_session<Device>> draft_session;
        std::optional<models::spec_session<Device, model_session<Device>>> draft_view;
        std::optional<spec::model_drafter<models::spec_session<Device, model_session<Device>>>> drafter;
        if (!draft->empty()) {
          run_options draft_options = *o;
          draft_options.model = *draft;
          draft_session = open_session<Device>(draft_options, context, rollback);
          spec::check_compatible(session->vocab(), draft_session->vocab(), *draft);
          draft_view.emplace(dev, *draft_session);
          drafter.emplace(*draft_view, sample::sampler({.temperature = 0.0f}));
        }
        const spec::ngram_drafter lookup(1, 4);
        const auto start = std::chrono::steady_clock::now();
        generated = decoder.generate(*tokens, *count, stop, [&](std::span<const spec::token_id> committed, std::size_t k, bool with_q, std::vector<float>& q) {
          if (drafter) return drafter->propose(committed, k, with_q, q);
          q.clear();
          return lookup.propose(committed, k);
        });
        const double seconds = seconds_since(start);
        if (!generated.empty() && std::find(stop.begin(), stop.end(), generated.back()) != stop.end()) generated.pop_back();
        const auto& st = decoder.stats();
        std::fprintf(stderr, "speculative (%s): %zu tokens in %zu target steps (%.2f per step), drafted %zu, accepted %zu (%.1f %%), %.1f tok/s\n",
                     *ngram ? "n-gram" : draft->c_str(), st.generated, st.steps, st.tokens_per_step(), st.drafted, st.accepted,
                     100.0 * st.acceptance(), per_second(st.generated, seconds));
        if (*compare) {
          const auto plain_start = std::chrono::steady_clock::now();
          const auto reference = plain();
          const double plain_seconds = seconds_since(plain_start);
          if (reference != generated) {
            std::size_t at = 0;
            while (at < reference.size() && at < generated.size() && reference[at] == generated[at]) ++at;
            // Only a policy whose kernels round a row differently when other rows share the pass
            // can get here: a bug in that policy.
            throw error(error_category::format, "speculative output differs from plain greedy decoding at generated token " +
                                                    std::to_string(at) + ": the " + o->device +
                                                    " kernels compute a row differently in a multi-token pass");
          }
          std::fprintf(stderr, "plain greedy: %.1f tok/s; speed-up %.2fx; outputs identical\n",
                       per_second(reference.size(), plain_seconds), plain_seconds / std::max(seconds, 1e-9));
        }
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
