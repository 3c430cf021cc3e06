// strix chat (also built as gemma4-chat): an interactive chat with a Gemma 4 or Qwen3.5 model.
// Replies stream as they are generated; /system, /think on|off, /reset, /stats and /quit are
// commands; Ctrl-C stops the current reply and keeps the session. Each turn re-renders the whole
// conversation (model turns without their thoughts), keeps the cached prefix that still matches
// and feeds only the rest, so history edits such as dropped thoughts cost only their tail.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <strix/sample/gguf_defaults.hpp>
#include <strix/sample/sampler.hpp>
#include <strix/spec/speculative_decoder.hpp>
#include <strix/text/chat_template.hpp>
#include <strix/text/streaming_decoder.hpp>
#include <strix/text/tokenizer.hpp>

#include "commands.hpp"
#include "model_session.hpp"
#include "models/model_vocabulary.hpp"
#include "models/spec_session.hpp"

namespace strix::tool {

namespace {

// Set by SIGINT while a reply is being generated; the handler is the only writer besides the loop.
volatile std::sig_atomic_t stop_requested = 0;
volatile std::sig_atomic_t generating = 0;

extern "C" void on_interrupt(int) {
  if (generating) {
    stop_requested = 1;
    return;
  }
  std::signal(SIGINT, SIG_DFL);
  std::raise(SIGINT);
}

struct chat_options {
  run_options run;
  std::size_t context = 4096;
  std::size_t max_reply = 512;
  std::string system;
  bool think = false;
  bool quiet = false;
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<std::size_t> top_k;
  std::uint64_t seed = 0;
  std::string draft;         // speculative decoding with this draft model
  bool ngram = false;        // or with n-gram prompt lookup
  std::size_t draft_max = 8;
};

void add_chat_options(CLI::App& cmd, chat_options& o) {
  cmd.add_option("--model", o.run.model, "GGUF file or Hugging Face folder (default: the shipped tiny Gemma 4 chat model)");
  add_device_option(cmd, o.run.device);
  cmd.add_option("-t,--threads", o.run.threads, "threads for zen5 (default: all)");
  cmd.add_option("--kv-type", o.run.kv, "KV cache type: f32, f16, bf16, q8_0, q4_0");
  cmd.add_option("-c,--ctx", o.context, "context length in tokens")->check(CLI::PositiveNumber);
  cmd.add_option("-n,--max-tokens", o.max_reply, "most tokens per reply")->check(CLI::PositiveNumber);
  cmd.add_option("--system", o.system, "system prompt");
  cmd.add_flag("--think", o.think, "start with thinking on");
  cmd.add_option("--temp", o.temperature, "temperature (0: greedy)");
  cmd.add_option("--top-k", o.top_k, "top-k (0: off)");
  cmd.add_option("--top-p", o.top_p, "top-p (1: off)");
  cmd.add_option("--min-p", o.min_p, "min-p (0: off)");
  cmd.add_option("--repeat-penalty", o.repetition_penalty, "repetition penalty over the last 64 tokens (1: off)");
  cmd.add_option("--seed", o.seed, "random seed");
  cmd.add_flag("-q,--quiet", o.quiet, "no banner and no per-reply statistics");
  auto* draft = cmd.add_option("--draft", o.draft, "speculative decoding with this draft model (same tokenizer)");
  cmd.add_flag("--ngram", o.ngram, "speculative decoding with n-gram prompt lookup")->excludes(draft);
  cmd.add_option("--draft-max", o.draft_max, "most drafted tokens per step")->check(CLI::Range(1, 32));
}

sample::sampling_params sampling_for(const chat_options& o) {
  sample::sampling_params p{.temperature = 0.7f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f};
  if (is_gguf_file(o.run.model)) p = sample::with_gguf_defaults(gguf_file::open(o.run.model), p);
  if (o.temperature) p.temperature = *o.temperature;
  if (o.top_k) p.top_k = *o.top_k;
  if (o.top_p) p.top_p = *o.top_p;
  if (o.min_p) p.min_p = *o.min_p;
  if (o.repetition_penalty) p.repetition_penalty = *o.repetition_penalty;
  p.seed = o.seed;
  p.validate();
  return p;
}

template <class Device>
class chat_session {
 public:
  chat_session(Device& dev, const chat_options& o, text::tokenizer tok)
      : dev_(dev), o_(o), tok_(std::move(tok)), sampler_(sampling_for(o)), speculative_(o.ngram || !o.draft.empty()),
        session_(open_session<Device>(o.run, o.context, speculative_ ? o.draft_max + 1 : 0)) {
    const auto choice = text::detect_chat_format(tok_.vocab());
    format_ = choice.format;
    if (!choice.warning.empty()) std::fprintf(stderr, "warning: %s\n", choice.warning.c_str());
    thinking_ = o.think;
    system_ = o.system;
    const bool gemma = format_ == text::chat_format::gemma4;
    thought_open_ = tok_.find(gemma ? "<|channel>" : "<think>");
    thought_close_ = tok_.find(gemma ? "<channel|>" : "</think>");
    if (speculative_) {
      target_view_.emplace(dev_, *session_);
      speculator_.emplace(*target_view_, sampler_, spec::speculation_options{.max_draft = o.draft_max,
                                                                             .first_draft = std::min<std::size_t>(4, o.draft_max)});
      if (!o.draft.empty()) {
        check_same_tokenizer(&tok_.vocab().pieces, o.draft);
        run_options draft_options = o.run;
        draft_options.model = o.draft;
        draft_session_ = open_session<Device>(draft_options, o.context, o.draft_max + 1);
        spec::check_compatible(session_->vocab(), draft_session_->vocab(), o.draft);
        draft_view_.emplace(dev_, *draft_session_);
        sample::sampling_params draft_params = sampler_.params();
        draft_params.seed += 1;
        drafter_.emplace(*draft_view_, sample::sampler(draft_params));
      }
    }
    if (session_->vocab() != tok_.size() && session_->vocab() < tok_.size()) {
      throw error(error_category::format, o.run.model + ": the tokenizer has " + std::to_string(tok_.size()) +
                                              " tokens but the model's vocabulary is " + std::to_string(session_->vocab()));
    }
  }

  // Handles one input line; returns false to quit.
  bool handle(const std::string& line) {
    if (line == "/quit" || line == "/exit") return false;
    if (line == "/reset") {
      reset();
      std::printf("(conversation cleared)\n");
    } else if (line.rfind("/system", 0) == 0) {
      system_ = line.size() > 8 ? line.substr(8) : "";
      reset();
      std::printf("(system prompt %s; conversation cleared)\n", system_.empty() ? "removed" : "set");
    } else if (line == "/think on" || line == "/think off") {
      thinking_ = line == "/think on";
      std::printf("(thinking %s)\n", thinking_ ? "on" : "off");
    } else if (line == "/stats") {
      print_stats();
    } else if (!line.empty() && line[0] == '/') {
      std::printf("commands: /system TEXT, /think on|off, /reset, /stats, /quit\n");
    } else if (!line.empty()) {
      reply_to(line);
    }
    std::fflush(stdout);
    return true;
  }

 private:
  void reset() {
    messages_.clear();
    fed_.resize(session_->truncate(0));
    spec_history_.clear();
  }

  std::vector<text::chat_message> conversation() const {
    std::vector<text::chat_message> all;
    if (!system_.empty()) all.push_back({"system", system_});
    all.insert(all.end(), messages_.begin(), messages_.end());
    return all;
  }

  // Prints a reply as it streams: text through the streaming decoder, the thought channel as
  // "[thinking] … [answer] ", and keeps the raw reply (thought included) for the history.
  struct reply_printer {
    const chat_session& chat;
    text::streaming_decoder decoder;
    std::string reply;
    bool naming_channel = false;

    explicit reply_printer(const chat_session& c) : chat(c), decoder(c.tok_) {}
    void show(text::token_id next) {
      if (next < 0 || static_cast<std::size_t>(next) >= chat.tok_.size()) return;  // embedding padding rows
      chat.tok_.append_bytes(next, reply);
      if (next == chat.thought_open_ && chat.thought_open_ != text::no_token) {
        naming_channel = chat.format_ == text::chat_format::gemma4;
        std::printf("[thinking] ");
      } else if (next == chat.thought_close_ && chat.thought_close_ != text::no_token) {
        std::printf("\n[answer] ");
      } else {
        std::string piece = decoder.push(next);
        if (naming_channel) {  // Gemma 4 names the channel ("thought") on the first line
          const auto newline = piece.find('\n');
          piece = newline == std::string::npos ? "" : piece.substr(newline + 1);
          naming_channel = newline == std::string::npos;
        }
        std::fputs(piece.c_str(), stdout);
      }
      std::fflush(stdout);
    }
    void finish() { std::fputs(decoder.finish().c_str(), stdout); }
  };

  [[nodiscard]] bool is_stop(text::token_id t) const { return t == tok_.end_of_turn() || t == tok_.eos(); }

  void reply_to(const std::string& user) {
    messages_.push_back({"user", user});
    const std::string prompt = text::render_chat(format_, conversation(), {.thinking = thinking_, .add_generation_prompt = true});
    std::vector<text::token_id> tokens = tok_.encode(prompt, {.add_bos = tok_.vocab().add_bos, .parse_control = true});
    const std::size_t reserve = speculative_ ? o_.draft_max + 2 : 1;
    if (tokens.size() + reserve >= o_.context) {
      messages_.pop_back();
      std::printf("(the conversation would need %zu of %zu tokens of context; /reset to start over)\n", tokens.size() + reserve, o_.context);
      return;
    }
    reply_printer printer(*this);
    stop_requested = 0;
    generating = 1;
    const auto prompt_start = std::chrono::steady_clock::now();
    const auto [prompt_tokens, generated, gen_start] =
        speculative_ ? speculative_reply(tokens, printer, prompt_start) : plain_reply(tokens, printer, prompt_start);
    generating = 0;
    printer.finish();
    if (stop_requested) std::printf(" (stopped)");
    std::printf("\n");
    messages_.push_back({"model", printer.reply});
    const double prompt_seconds = std::chrono::duration<double>(gen_start - prompt_start).count();
    const double gen_seconds = seconds_since(gen_start);
    totals_.prompt_tokens += prompt_tokens;
    totals_.prompt_seconds += prompt_seconds;
    totals_.generated += generated;
    totals_.generation_seconds += gen_seconds;
    if (!o_.quiet) {
      std::fprintf(stderr, "[prompt %zu tokens, %.1f tok/s | reply %zu tokens, %.1f tok/s | context %zu / %zu]\n", prompt_tokens,
                   per_second(prompt_tokens, prompt_seconds), generated, per_second(generated, gen_seconds),
                   session_->length(), o_.context);
    }
  }

  struct reply_counts {
    std::size_t prompt_tokens;
    std::size_t generated;
    std::chrono::steady_clock::time_point generation_start;
  };

  reply_counts plain_reply(const std::vector<text::token_id>& tokens, reply_printer& printer,
                           std::chrono::steady_clock::time_point) {
    std::size_t common = 0;
    while (common < fed_.size() && common < tokens.size() && fed_[common] == tokens[common]) ++common;
    if (common == tokens.size()) --common;  // the last prompt token must run to give logits
    fed_.resize(session_->truncate(common));
    const std::span<const text::token_id> rest(tokens.begin() + static_cast<std::ptrdiff_t>(fed_.size()), tokens.end());
    std::vector<float> logits = session_->run(dev_, rest, false);
    const auto gen_start = std::chrono::steady_clock::now();
    fed_ = tokens;
    std::size_t generated = 0;
    while (generated < o_.max_reply && !stop_requested) {
      // Rows past the tokenizer (padding of the embedding) are never sampled.
      const text::token_id next = sampler_.sample(std::span(logits).first(std::min(logits.size(), tok_.size())), fed_);
      ++generated;
      if (is_stop(next)) break;
      printer.show(next);
      if (fed_.size() + 1 >= o_.context) {
        std::printf("\n(context full: %zu tokens; /reset to start over)", o_.context);
        break;
      }
      fed_.push_back(next);
      logits = session_->run(dev_, std::span(&fed_.back(), 1), false);
    }
    return {rest.size(), generated, gen_start};
  }

  // The same reply through the speculative decoder: drafts from the draft model or n-gram lookup,
  // verified against the target (rejection sampling when sampling), streamed step by step.
  reply_counts speculative_reply(const std::vector<text::token_id>& tokens, reply_printer& printer,
                                 std::chrono::steady_clock::time_point) {
    std::size_t kept = 0;  // the prefix the target still holds from the last turn
    while (kept < spec_history_.size() && kept < tokens.size() && spec_history_[kept] == tokens[kept]) ++kept;
    kept = std::min(kept, session_->length());
    speculator_->prefill(tokens);
    const std::size_t prompt_tokens = tokens.size() - std::min(kept, tokens.size() - 1);
    const auto gen_start = std::chrono::steady_clock::now();
    const std::size_t room = o_.context - tokens.size() - o_.draft_max - 2;
    const std::vector<text::token_id> stop{tok_.end_of_turn(), tok_.eos()};
    const auto out = speculator_->generate(
        tokens, std::min(o_.max_reply, room), stop,
        [&](std::span<const text::token_id> committed, std::size_t k, bool with_q, std::vector<float>& q) {
          if (drafter_) return drafter_->propose(committed, k, with_q, q);
          q.clear();
          return ngram_.propose(committed, k);
        },
        [&](std::span<const text::token_id> step) {
          for (const auto t : step) {
            if (!is_stop(t)) printer.show(t);
          }
          return !stop_requested;
        });
    spec_history_ = tokens;
    spec_history_.insert(spec_history_.end(), out.begin(), out.end());
    return {prompt_tokens, out.size(), gen_start};
  }

  void print_stats() const {
    std::printf("prompt: %zu tokens in %.2f s (%.1f tok/s); generated: %zu tokens in %.2f s (%.1f tok/s); context %zu / %zu; "
                "thinking %s\n",
                totals_.prompt_tokens, totals_.prompt_seconds, per_second(totals_.prompt_tokens, totals_.prompt_seconds),
                totals_.generated, totals_.generation_seconds, per_second(totals_.generated, totals_.generation_seconds),
                session_->length(), o_.context, thinking_ ? "on" : "off");
    if (speculator_) {
      const auto& st = speculator_->stats();
      std::printf("speculative (%s): drafted %zu, accepted %zu (%.1f %%), %.2f tokens per target step\n",
                  o_.ngram ? "n-gram" : o_.draft.c_str(), st.drafted, st.accepted, 100.0 * st.acceptance(), st.tokens_per_step());
    }
  }

  struct totals {
    std::size_t prompt_tokens = 0;
    double prompt_seconds = 0;
    std::size_t generated = 0;
    double generation_seconds = 0;
  };

  Device& dev_;
  const chat_options& o_;
  text::tokenizer tok_;
  sample::sampler sampler_;
  bool speculative_;
  std::unique_ptr<model_session<Device>> session_;
  using view = models::spec_session<Device, model_session<Device>>;
  std::optional<view> target_view_;
  std::optional<spec::speculative_decoder<view>> speculator_;
  std::unique_ptr<model_session<Device>> draft_session_;
  std::optional<view> draft_view_;
  std::optional<spec::model_drafter<view>> drafter_;
  spec::ngram_drafter ngram_{1, 4};
  std::vector<text::token_id> spec_history_;  // the last speculative turn's prompt and reply
  text::chat_format format_ = text::chat_format::gemma4;
  text::token_id thought_open_ = text::no_token;
  text::token_id thought_close_ = text::no_token;
  bool thinking_ = false;
  std::string system_;
  std::vector<text::chat_message> messages_;
  std::vector<text::token_id> fed_;  // the tokens in the cache, in order
  totals totals_;
};

void run_chat(chat_options& o) {
  if (o.run.model.empty()) o.run.model = STRIX_DEFAULT_CHAT_MODEL;
  auto vocabulary = models::load_model_vocabulary(o.run.model);
  if (!vocabulary) throw error(error_category::format, o.run.model + ": the model has no tokenizer, which chat needs");
  text::tokenizer tok(std::move(*vocabulary), o.run.model);
  with_device(o.run, [&](auto& dev) {
    chat_session<std::decay_t<decltype(dev)>> chat(dev, o, std::move(tok));
    std::signal(SIGINT, on_interrupt);
    if (!o.quiet) {
      std::fprintf(stderr, "strix chat: %s on %s, context %zu. Commands: /system TEXT, /think on|off, /reset, /stats, /quit. "
                   "Ctrl-C stops a reply.\n", o.run.model.c_str(), o.run.device.c_str(), o.context);
    }
    std::string line;
    while (true) {
      std::printf("> ");
      std::fflush(stdout);
      if (!std::getline(std::cin, line)) break;
      if (!chat.handle(line)) break;
    }
    std::printf("\n");
  });
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "chat with a model (streaming; /system, /think, /reset, /stats, /quit)");
  auto o = std::make_shared<chat_options>();
  add_chat_options(*cmd, *o);
  cmd->callback([o] { run_chat(*o); });
}

int chat_main(int argc, char** argv) {
  CLI::App app{"gemma4-chat: chat with a Gemma 4 or Qwen3.5 model; with no --model, the shipped tiny Gemma 4 chat model"};
  chat_options o;
  add_chat_options(app, o);
  try {
    app.parse(argc, argv);
    run_chat(o);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gemma4-chat: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace strix::tool
