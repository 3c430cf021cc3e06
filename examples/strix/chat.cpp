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
#include <strix/text/chat_template.hpp>
#include <strix/text/streaming_decoder.hpp>
#include <strix/text/tokenizer.hpp>

#include "commands.hpp"
#include "model_session.hpp"
#include "models/model_vocabulary.hpp"

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
};

void add_chat_options(CLI::App& cmd, chat_options& o) {
  cmd.add_option("--model", o.run.model, "GGUF file or Hugging Face folder (default: the shipped tiny Gemma 4 chat model)");
  cmd.add_option("--device", o.run.device, "zen5 or reference")->check(CLI::IsMember({"zen5", "reference"}));
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

double per_second(std::size_t count, double seconds) { return static_cast<double>(count) / std::max(seconds, 1e-9); }

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

template <class Device>
class chat_session {
 public:
  chat_session(Device& dev, const chat_options& o, text::tokenizer tok)
      : dev_(dev), o_(o), tok_(std::move(tok)), sampler_(sampling_for(o)), session_(open_session<Device>(o.run, o.context)) {
    const auto choice = text::detect_chat_format(tok_.vocab());
    format_ = choice.format;
    if (!choice.warning.empty()) std::fprintf(stderr, "warning: %s\n", choice.warning.c_str());
    thinking_ = o.think;
    system_ = o.system;
    const bool gemma = format_ == text::chat_format::gemma4;
    thought_open_ = tok_.find(gemma ? "<|channel>" : "<think>");
    thought_close_ = tok_.find(gemma ? "<channel|>" : "</think>");
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
  }

  std::vector<text::chat_message> conversation() const {
    std::vector<text::chat_message> all;
    if (!system_.empty()) all.push_back({"system", system_});
    all.insert(all.end(), messages_.begin(), messages_.end());
    return all;
  }

  void reply_to(const std::string& user) {
    messages_.push_back({"user", user});
    const std::string prompt = text::render_chat(format_, conversation(), {.thinking = thinking_, .add_generation_prompt = true});
    std::vector<text::token_id> tokens = tok_.encode(prompt, {.add_bos = tok_.vocab().add_bos, .parse_control = true});
    if (tokens.size() + 1 >= o_.context) {
      messages_.pop_back();
      std::printf("(the conversation would need %zu of %zu tokens of context; /reset to start over)\n", tokens.size() + 1, o_.context);
      return;
    }
    std::size_t common = 0;
    while (common < fed_.size() && common < tokens.size() && fed_[common] == tokens[common]) ++common;
    if (common == tokens.size()) --common;  // the last prompt token must run to give logits
    fed_.resize(session_->truncate(common));
    const auto prompt_start = std::chrono::steady_clock::now();
    const std::span<const text::token_id> rest(tokens.begin() + static_cast<std::ptrdiff_t>(fed_.size()), tokens.end());
    std::vector<float> logits = session_->run(dev_, rest, false);
    const double prompt_seconds = seconds_since(prompt_start);
    const std::size_t prompt_tokens = rest.size();
    fed_ = tokens;

    text::streaming_decoder decoder(tok_);
    std::string reply;
    std::size_t generated = 0;
    bool naming_channel = false;
    const auto gen_start = std::chrono::steady_clock::now();
    stop_requested = 0;
    generating = 1;
    while (generated < o_.max_reply && !stop_requested) {
      // Rows past the tokenizer (padding of the embedding) are never sampled.
      const text::token_id next = sampler_.sample(std::span(logits).first(std::min(logits.size(), tok_.size())), fed_);
      ++generated;
      if (next == tok_.end_of_turn() || next == tok_.eos()) break;
      tok_.append_bytes(next, reply);
      if (next == thought_open_ && thought_open_ != text::no_token) {
        naming_channel = format_ == text::chat_format::gemma4;
        std::printf("[thinking] ");
      } else if (next == thought_close_ && thought_close_ != text::no_token) {
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
      if (fed_.size() + 1 >= o_.context) {
        std::printf("\n(context full: %zu tokens; /reset to start over)", o_.context);
        break;
      }
      fed_.push_back(next);
      logits = session_->run(dev_, std::span(&fed_.back(), 1), false);
    }
    generating = 0;
    std::fputs(decoder.finish().c_str(), stdout);
    if (stop_requested) std::printf(" (stopped)");
    std::printf("\n");
    messages_.push_back({"model", reply});
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

  void print_stats() const {
    std::printf("prompt: %zu tokens in %.2f s (%.1f tok/s); generated: %zu tokens in %.2f s (%.1f tok/s); context %zu / %zu; "
                "thinking %s\n",
                totals_.prompt_tokens, totals_.prompt_seconds, per_second(totals_.prompt_tokens, totals_.prompt_seconds),
                totals_.generated, totals_.generation_seconds, per_second(totals_.generated, totals_.generation_seconds),
                session_->length(), o_.context, thinking_ ? "on" : "off");
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
  std::unique_ptr<model_session<Device>> session_;
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
