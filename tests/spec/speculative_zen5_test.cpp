// On the zen5 policy, with the shipped Q8_0 chat model (window 128): a row's logits must not
// depend on how many rows share the forward pass, or greedy speculative decoding would drift
// from plain greedy decoding on near-ties. Self-drafting must accept everything and reproduce
// plain greedy decoding exactly.
#include <catch2/catch.hpp>

#include <strix/device/zen5/zen5.hpp>
#include <strix/spec/speculative_decoder.hpp>
#include <strix/text/tokenizer.hpp>

#include "device/zen5_test_support.hpp"
#include "models/gemma4.hpp"
#include "models/model_files.hpp"
#include "models/model_vocabulary.hpp"
#include "models/sequence_runner.hpp"
#include "models/spec_session.hpp"

using namespace strix;

namespace {

using chat_model = models::gemma4<zen5, 128>;
using chat_runner = models::sequence_runner<zen5, chat_model, paged_kv_cache>;

chat_runner open_chat_model(std::size_t max_rollback) {
  models::gemma4_files files = models::open_gemma4(std::string(STRIX_TINY_CHAT_DIR) + "/gemma4-tiny-chat.gguf");
  models::gemma4_weights weights = models::gemma4_weights::load(*files.source, files.config);
  chat_model model(std::move(files.config), std::move(weights));
  const kv_layout layout = model.cache_layout({kv_type::f16, 16, 1, 64, max_rollback});
  return {std::move(model), paged_kv_cache(layout, layout.budget_for_context(512)), 64};
}

}  // namespace

TEST_CASE("zen5: self-drafted greedy speculative decoding reproduces plain greedy decoding on the chat model") {
  if (!testing::zen5_cpu_ready()) return;
  thread_pool pool(2);
  zen5 dev(pool);
  const text::tokenizer tok(*models::load_model_vocabulary(std::string(STRIX_TINY_CHAT_DIR) + "/gemma4-tiny-chat.gguf"));
  auto plain = open_chat_model(0);
  auto target_runner = open_chat_model(9);
  auto draft_runner = open_chat_model(9);
  models::spec_session target(dev, target_runner);
  models::spec_session draft(dev, draft_runner);
  for (const char* question : {"What is this FAQ?", "How do I install a package?", "What is a Python list?"}) {
  const auto prompt = tok.encode(std::string("<|turn>user\n") + question + "<turn|>\n<|turn>model\n", {.add_bos = true, .parse_control = true});
  REQUIRE(plain.truncate(0) == 0);
  std::vector<spec::token_id> expected;
  std::vector<float> logits = plain.run(dev, prompt, false);
  while (expected.size() < 160) {
    expected.push_back(sample::sampler::argmax(logits));
    logits = plain.run(dev, std::span(&expected.back(), 1), false);
  }
  for (const std::size_t k : {2u, 5u, 8u}) {
    INFO(question << " k " << k);
    spec::speculative_decoder decoder(target, sample::sampler({.temperature = 0.0f}), {.max_draft = k, .adaptive = false, .first_draft = k});
    spec::model_drafter drafter(draft, sample::sampler({.temperature = 0.0f}));
    const auto out = decoder.generate(prompt, expected.size(), {}, [&](auto committed, std::size_t n, bool with_q, std::vector<float>& q) {
      return drafter.propose(committed, n, with_q, q);
    });
    CHECK(out == expected);
    CHECK(decoder.stats().accepted == decoder.stats().drafted);
  }
  }
}
