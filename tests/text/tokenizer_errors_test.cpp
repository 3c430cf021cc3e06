#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <strix/io/gguf_writer.hpp>
#include <strix/text/tokenizer.hpp>
#include <strix/text/tokenizer_gguf.hpp>
#include <strix/text/tokenizer_json.hpp>

using namespace strix::text;
using Catch::Matchers::Contains;

namespace {

nlohmann::json minimal_gemma_json() {
  return nlohmann::json::parse(R"({
    "added_tokens": [{"id": 0, "content": "<bos>", "special": true}],
    "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
    "pre_tokenizer": null,
    "decoder": {"type": "Sequence", "decoders": []},
    "model": {"type": "BPE", "byte_fallback": true, "vocab": {"<bos>": 0, "a": 1, "b": 2, "ab": 3},
              "merges": [["a", "b"]]}})");
}

std::string error_of(const nlohmann::json& j) {
  try {
    tokenizer tok(vocabulary_from_tokenizer_json(j, "tok.json"), "tok.json");
  } catch (const strix::error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("a minimal tokenizer.json works and merges") {
  const tokenizer tok(vocabulary_from_tokenizer_json(minimal_gemma_json(), "tok.json"));
  CHECK(tok.encode("ab") == std::vector<token_id>{3});
  CHECK(tok.encode("<bos>ab", {.parse_control = true}) == std::vector<token_id>{0, 3});
  CHECK_THROWS_WITH(tok.encode("c"), Contains("no unknown token"));  // no byte tokens, no <unk>
  CHECK_THROWS_WITH(tok.decode(std::vector<token_id>{7}), Contains("outside the vocabulary"));
}

TEST_CASE("bad tokenizer.json files are refused with the file and the part at fault") {
  auto j = minimal_gemma_json();
  j["model"]["type"] = "Unigram";
  CHECK_THAT(error_of(j), Contains("tok.json") && Contains("is not BPE"));
  j = minimal_gemma_json();
  j["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"a", "zz"})});
  CHECK_THAT(error_of(j), Contains("merge #0") && Contains("not in the vocabulary"));
  j = minimal_gemma_json();
  j["model"]["vocab"] = {{"<bos>", 0}, {"a", 1}, {"ab", 5}};
  CHECK_THAT(error_of(j), Contains("token id 2 has no piece"));
  j = minimal_gemma_json();
  j["normalizer"] = {{"type", "NFKC"}};
  CHECK_THAT(error_of(j), Contains("normalizer"));
  j = minimal_gemma_json();
  j["decoder"] = {{"type", "ByteLevel"}};
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}};
  CHECK_THAT(error_of(j), Contains("is neither the qwen2 nor the qwen35 one"));
  j = minimal_gemma_json();
  j["added_tokens"][0]["lstrip"] = true;
  CHECK_THAT(error_of(j), Contains("sets lstrip"));
  j = minimal_gemma_json();
  j.erase("model");
  CHECK_THAT(error_of(j), Contains("no \"model\""));
}

TEST_CASE("bad tokenizer metadata in GGUF is refused naming the key") {
  const auto parse_error = [](auto&& fill) {
    strix::gguf_writer w;
    w.set("general.architecture", strix::gguf_value("test"));
    fill(w);
    const auto bytes = w.to_bytes();
    try {
      (void)vocabulary_from_gguf(strix::gguf_file::parse(bytes, "m.gguf"), "m.gguf");
    } catch (const strix::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(parse_error([](strix::gguf_writer&) {}), Contains("m.gguf") && Contains("tokenizer.ggml.model"));
  CHECK_THAT(parse_error([](strix::gguf_writer& w) { w.set("tokenizer.ggml.model", strix::gguf_value("llama")); }),
             Contains("'llama'"));
  CHECK_THAT(parse_error([](strix::gguf_writer& w) {
               w.set("tokenizer.ggml.model", strix::gguf_value("gpt2"));
               w.set("tokenizer.ggml.pre", strix::gguf_value("llama-bpe"));
             }),
             Contains("tokenizer.ggml.pre"));
  CHECK_THAT(parse_error([](strix::gguf_writer& w) {
               w.set("tokenizer.ggml.model", strix::gguf_value("gemma4"));
               w.set("tokenizer.ggml.tokens", strix::gguf_value::array(std::vector<std::string>{"a", "b"}));
               const std::int32_t types[] = {1};
               w.set("tokenizer.ggml.token_type", strix::gguf_value::array(std::span<const std::int32_t>(types)));
             }),
             Contains("1 token types for 2 tokens"));
  CHECK_THAT(parse_error([](strix::gguf_writer& w) {
               w.set("tokenizer.ggml.model", strix::gguf_value("gemma4"));
               w.set("tokenizer.ggml.tokens", strix::gguf_value::array(std::vector<std::string>{"a", "b"}));
               w.set("tokenizer.ggml.eos_token_id", strix::gguf_value(std::uint32_t{9}));
             }),
             Contains("eos token id 9"));
  CHECK_THAT(parse_error([](strix::gguf_writer& w) {
               w.set("tokenizer.ggml.model", strix::gguf_value("gemma4"));
               w.set("tokenizer.ggml.tokens", strix::gguf_value(std::uint32_t{3}));
             }),
             Contains("m.gguf") && Contains("tokenizer.ggml.tokens"));
}
