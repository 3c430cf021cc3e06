// Tokenizer encode speed on English prose (one core) for the shipped tiny chat tokenizer and, when
// their files were downloaded for the tests, Gemma 3's and Qwen3's; and the sampler on a
// 262,144-entry row (Gemma's vocabulary) next to greedy argmax.
//   text_bench [--benchmark_filter=...]
// Prose: the Python 3.11 tutorial sources when python3.11-doc is installed, else the test corpus.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <benchmark/benchmark.h>

#include <strix/sample/sampler.hpp>
#include <strix/text/tokenizer.hpp>
#include <strix/text/tokenizer_json.hpp>

namespace {

std::string english_prose() {
  std::string text;
  const std::filesystem::path docs = "/usr/share/doc/python3.11/html/_sources/tutorial";
  if (std::filesystem::exists(docs)) {
    for (const auto& entry : std::filesystem::directory_iterator(docs)) {
      std::ifstream in(entry.path());
      std::ostringstream all;
      all << in.rdbuf();
      text += all.str();
    }
  } else {
    std::ifstream in(std::string(STRIX_SOURCE_DIR) + "/tests/data/tokenizer/corpus.jsonl");
    std::ostringstream all;
    all << in.rdbuf();
    text = all.str();
  }
  return text;
}

void encode(benchmark::State& state, const std::string& path) {
  if (!std::filesystem::exists(path)) {
    state.SkipWithError(("missing " + path).c_str());
    return;
  }
  const strix::text::tokenizer tok(strix::text::load_tokenizer_json(path));
  const std::string text = english_prose();
  strix::text::encode_workspace ws;
  std::vector<strix::text::token_id> ids;
  for (auto _ : state) {
    ids.clear();
    tok.encode(text, {}, ids, ws);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(ids.size());
  state.counters["text_MB"] = static_cast<double>(text.size()) / 1e6;
}

// A peaked row like a language model's (logit falling with the log of its rank, ranks shuffled),
// or, as the worst case for top-p, logits uniform in [-6, 6] (the nucleus is most of the vocabulary).
std::vector<float> vocabulary_row(bool peaked) {
  std::vector<float> logits(262144);
  std::uint32_t x = 12345;
  const auto next = [&] {
    x = x * 1664525u + 1013904223u;
    return static_cast<float>(x >> 8) / 16777216.0f;
  };
  for (std::size_t i = 0; i < logits.size(); ++i) {
    logits[i] = peaked ? 12.0f - 2.5f * std::log(1.0f + static_cast<float>(i)) : next() * 12.0f - 6.0f;
  }
  for (std::size_t i = logits.size() - 1; i > 0; --i) std::swap(logits[i], logits[static_cast<std::size_t>(next() * static_cast<float>(i))]);
  return logits;
}

void sample(benchmark::State& state, strix::sample::sampling_params params, bool peaked = true) {
  const auto logits = vocabulary_row(peaked);
  std::vector<std::int32_t> history(64);
  for (std::size_t i = 0; i < history.size(); ++i) history[i] = static_cast<std::int32_t>(i * 977);
  strix::sample::sampler s(params);
  for (auto _ : state) benchmark::DoNotOptimize(s.sample(logits, history));
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

const std::string downloads = std::string(STRIX_SOURCE_DIR) + "/build/downloads";

}  // namespace

BENCHMARK_CAPTURE(encode, tiny_chat, std::string(STRIX_SOURCE_DIR) + "/models/gemma4-tiny-chat/tokenizer.json")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, gemma3, downloads + "/tokenizer-gemma3-3.7.2/package/models/tokenizer.json")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, qwen3, downloads + "/tokenizer-qwen3-3.7.2/package/models/tokenizer.json")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(sample, greedy, strix::sample::sampling_params{.temperature = 0.0f})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sample, temperature_only, strix::sample::sampling_params{.temperature = 0.8f})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sample, chat_default,
                  strix::sample::sampling_params{.temperature = 0.7f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sample, top_p_penalised,
                  strix::sample::sampling_params{.temperature = 1.0f, .top_p = 0.9f, .repetition_penalty = 1.1f})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sample, top_p_uniform_worst_case, strix::sample::sampling_params{.temperature = 1.0f, .top_p = 0.9f}, false)
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
