// strix bench: llama-bench-style throughput of a model file or of random weights at a preset's
// shapes — prefill tokens/s per prompt length, decode tokens/s after a prefill of --depth tokens,
// mean ± standard deviation over repetitions — with each decode figure also given as a fraction
// of the memory roofline: the bytes a decoded token must read (memory_plan: weights with routed
// experts only, KV at the depth, recurrent state) times tokens/s over the read bandwidth the tool
// measures at start (or --bandwidth).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "measure/read_bandwidth.hpp"
#include "model_session.hpp"

namespace strix::tool {
namespace {

struct bench_options {
  run_options run;
  std::string random_weights, weight_type = "q4_k_m";
  std::vector<std::size_t> prompts{512}, depths{0};
  std::size_t generate = 128;
  unsigned reps = 3;
  double bandwidth_gbps = 0;
  bool json = false;
};

struct bench_result {
  std::string name;
  std::size_t prompt = 0, generated = 0, depth = 0;
  double tok_s = 0, stddev = 0;
  double read_bytes_per_token = 0;  // decode only
};

struct mean_spread {
  double mean = 0, stddev = 0;
};

mean_spread spread_of(const std::vector<double>& values) {
  mean_spread m;
  m.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  if (values.size() > 1) {
    double sum = 0;
    for (double v : values) sum += (v - m.mean) * (v - m.mean);
    m.stddev = std::sqrt(sum / static_cast<double>(values.size() - 1));
  }
  return m;
}

std::vector<std::int32_t> random_tokens(std::size_t count, std::size_t vocab, std::mt19937& rng) {
  std::vector<std::int32_t> tokens(count);
  for (auto& t : tokens) t = static_cast<std::int32_t>(rng() % vocab);
  return tokens;
}

template <class Device>
std::vector<bench_result> measure(Device& dev, model_session<Device>& session, const bench_options& o, const models::memory_plan& plan) {
  std::mt19937 rng(1);
  std::vector<bench_result> results;
  // Each depth is prefilled once; every test then runs from it and rolls the cache back to it
  // (the session was opened with room for that rollback), or refills it where it cannot.
  auto back_to = [&](std::size_t depth) {
    if (session.length() == depth || session.try_truncate(depth)) return;
    session.truncate(0);
    if (depth) session.run(dev, random_tokens(depth, session.vocab(), rng), false);
  };
  auto suffix = [](std::size_t depth) { return depth ? " @ d" + std::to_string(depth) : std::string(); };
  // One untimed prefill and decode step first, as llama-bench warms up: the first pass pays for
  // page faults and workspace growth.
  session.truncate(0);
  session.run(dev, random_tokens(o.prompts.empty() ? 1 : o.prompts.front(), session.vocab(), rng), false);
  session.run(dev, random_tokens(1, session.vocab(), rng), false);
  for (std::size_t depth : o.depths) {
    session.truncate(0);
    back_to(depth);
    for (std::size_t prompt : o.prompts) {
      std::vector<double> rates;
      for (unsigned r = 0; r < o.reps; ++r) {
        back_to(depth);
        const auto tokens = random_tokens(prompt, session.vocab(), rng);
        const auto start = std::chrono::steady_clock::now();
        session.run(dev, tokens, false);
        rates.push_back(per_second(prompt, seconds_since(start)));
      }
      const mean_spread s = spread_of(rates);
      results.push_back({"pp" + std::to_string(prompt) + suffix(depth), prompt, 0, depth, s.mean, s.stddev, 0});
    }
    if (o.generate == 0) continue;
    std::vector<double> rates;
    for (unsigned r = 0; r < o.reps; ++r) {
      back_to(depth);
      std::int32_t next = static_cast<std::int32_t>(rng() % session.vocab());
      const auto start = std::chrono::steady_clock::now();
      for (std::size_t n = 0; n < o.generate; ++n) {
        const auto logits = session.run(dev, std::span(&next, 1), false);
        next = static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      rates.push_back(per_second(o.generate, seconds_since(start)));
    }
    const mean_spread s = spread_of(rates);
    // KV read at the run's mean depth.
    const double read = static_cast<double>(plan.decode_weight_bytes + plan.kv_read_bytes(depth + o.generate / 2) + plan.recurrent_read_bytes);
    results.push_back({"tg" + std::to_string(o.generate) + suffix(depth), 0, o.generate, depth, s.mean, s.stddev, read});
  }
  return results;
}

void report(const bench_options& o, const std::string& name, const models::memory_plan& plan, unsigned threads, double bandwidth,
            const std::vector<bench_result>& results) {
  if (o.json) {
    nlohmann::json tests = nlohmann::json::array();
    for (const bench_result& r : results) {
      nlohmann::json t{{"name", r.name}, {"n_prompt", r.prompt}, {"n_gen", r.generated}, {"depth", r.depth}, {"tok_s", r.tok_s}, {"stddev", r.stddev}};
      if (r.generated) {
        t["read_bytes_per_token"] = r.read_bytes_per_token;
        t["roofline_fraction"] = r.read_bytes_per_token * r.tok_s / bandwidth;
      }
      tests.push_back(t);
    }
    const nlohmann::json out{{"model", name}, {"params", plan.weights.parameters}, {"model_bytes", plan.weights.total()}, {"threads", threads},
                             {"device", o.run.device}, {"kv_type", o.run.kv}, {"bandwidth_gbps", bandwidth / 1e9}, {"tests", tests}};
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  std::printf("| model | size | params | device | threads | test | t/s | of roofline |\n|---|--:|--:|---|--:|---|--:|--:|\n");
  for (const bench_result& r : results) {
    char roofline[32] = "";
    if (r.generated) std::snprintf(roofline, sizeof roofline, "%.1f %%", 100.0 * r.read_bytes_per_token * r.tok_s / bandwidth);
    std::printf("| %s | %s | %s | %s | %u | %s | %.2f ± %.2f | %s |\n", name.c_str(), size_text(plan.weights.total()).c_str(),
                count_text(plan.weights.parameters).c_str(), o.run.device.c_str(), threads, r.name.c_str(), r.tok_s, r.stddev, roofline);
  }
  std::printf("roofline: bytes a decoded token reads (weights %.3f GB, routed experts only; KV at the run's mean depth; recurrent state) "
              "× t/s ÷ %.2f GB/s read bandwidth (%s)\n",
              static_cast<double>(plan.decode_weight_bytes) / 1e9, bandwidth / 1e9, o.bandwidth_gbps > 0 ? "--bandwidth" : "measured");
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "prefill and decode tokens/s, llama-bench style, with the memory roofline");
  auto o = std::make_shared<bench_options>();
  auto* source = cmd->add_option_group("model")->require_option(1);
  source->add_option("--model", o->run.model, "GGUF file or Hugging Face folder");
  source->add_option("--random-weights", o->random_weights, "random weights at a preset's shapes (gemma4-e4b or gemma4:e4b, ...; see strix plan --help) or a config.json's");
  cmd->add_option("--weight-type", o->weight_type, "with --random-weights: q4_k_m (default) or a ggml type (q8_0, bf16, q4_K, ...)");
  cmd->add_option("-p,--n-prompt", o->prompts, "prompt lengths for prefill tests, comma separated (default 512; 0: none)")->delimiter(',');
  cmd->add_option("-n,--n-gen", o->generate, "tokens to decode (default 128; 0: no decode test)");
  cmd->add_option("-d,--depth", o->depths, "context already in the cache before each test, comma separated (default 0)")->delimiter(',');
  cmd->add_option("-r,--reps", o->reps, "repetitions (default 3)")->check(CLI::PositiveNumber);
  add_device_option(*cmd, o->run.device);
  cmd->add_option("-t,--threads", o->run.threads, "threads for zen5 (default: all)");
  cmd->add_option("--kv-type", o->run.kv, "KV cache type: f32, f16, bf16, q8_0, q4_0");
  cmd->add_option("--chunk", o->run.chunk, "prefill chunk (tokens per step)")->check(CLI::PositiveNumber);
  cmd->add_option("--bandwidth", o->bandwidth_gbps, "memory bandwidth in GB/s for the roofline, instead of measuring it")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "one JSON object");
  cmd->callback([o] {
    std::erase(o->prompts, std::size_t{0});
    if (o->depths.empty()) o->depths.push_back(0);
    const model_spec spec = o->random_weights.empty() ? open_model(o->run.model) : random_model(o->random_weights, o->weight_type);
    const unsigned threads = o->run.device == "reference" ? 1 : (o->run.threads ? o->run.threads : std::max(1u, std::thread::hardware_concurrency()));
    double bandwidth = o->bandwidth_gbps * 1e9;
    if (bandwidth == 0) {
      thread_pool pool(threads);
      bandwidth = measure::read_bandwidth(pool);
    }
    std::size_t test_tokens = o->generate;
    for (std::size_t p : o->prompts) test_tokens = std::max(test_tokens, p);
    const std::size_t context = *std::max_element(o->depths.begin(), o->depths.end()) + test_tokens + 1;
    models::weight_census census = spec.census();
    const models::memory_plan plan = plan_model(spec.config, census, plan_options_for(o->run, context, 0));
    with_device(o->run, [&](auto& dev) {
      using Device = std::decay_t<decltype(dev)>;
      auto session = open_session<Device>(spec, o->run, context, test_tokens + 1);
      report(*o, spec.name, plan, threads, bandwidth, measure(dev, *session, *o, plan));
    });
  });
}

}  // namespace strix::tool
