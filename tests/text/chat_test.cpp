#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <strix/text/chat_template.hpp>
#include <strix/text/streaming_decoder.hpp>
#include <strix/text/tokenizer_json.hpp>

using namespace strix::text;

TEST_CASE("Gemma 4 turns, with thinking and with thoughts stripped from the history") {
  const std::vector<chat_message> messages{{"system", "Be brief."},
                                           {"user", "Hi"},
                                           {"model", "<|channel>thought\nThey greet me.<channel|>Hello!"},
                                           {"user", "Bye"}};
  CHECK(render_chat(chat_format::gemma4, messages) ==
        "<|turn>system\nBe brief.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\nHello!<turn|>\n<|turn>user\nBye<turn|>\n"
        "<|turn>model\n");
  CHECK(render_chat(chat_format::gemma4, std::vector<chat_message>{{"user", "Hi"}}, {.thinking = true}) ==
        "<|turn>system\n<|think|><turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n");
  CHECK(render_chat(chat_format::gemma4, messages, {.thinking = true, .add_generation_prompt = false}).starts_with(
      "<|turn>system\n<|think|>Be brief.<turn|>\n"));
  CHECK_THROWS(render_chat(chat_format::gemma4, std::vector<chat_message>{{"robot", "x"}}));
}

TEST_CASE("ChatML turns, thinking switched off with an empty think block") {
  const std::vector<chat_message> messages{{"user", "Hi"}, {"assistant", "<think>\nhmm\n</think>\n\nHello!"}, {"user", "Bye"}};
  CHECK(render_chat(chat_format::chatml, messages) ==
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n");
  CHECK(render_chat(chat_format::chatml, messages, {.thinking = true}).ends_with("<|im_start|>assistant\n"));
}

TEST_CASE("split_thought separates the thought from the answer") {
  auto r = split_thought(chat_format::gemma4, "<|channel>thought\nplan<channel|>answer");
  CHECK(r.thought == "plan");
  CHECK(r.answer == "answer");
  r = split_thought(chat_format::gemma4, "<|channel>thought\nunfinished");
  CHECK(r.thought == "unfinished");
  CHECK(r.answer.empty());
  r = split_thought(chat_format::chatml, "<think>\nx\n</think>\n\ny");
  CHECK(r.answer == "y");
  CHECK(split_thought(chat_format::chatml, "plain").answer == "plain");
}

TEST_CASE("the chat format is recognised from the template, else from the tokens") {
  vocabulary v;
  v.pieces = {"<|turn>", "a"};
  v.kinds = {token_kind::control, token_kind::normal};
  CHECK(detect_chat_format(v).format == chat_format::gemma4);
  CHECK(detect_chat_format(v).warning.empty());
  v.pieces[0] = "<|im_start|>";
  CHECK(detect_chat_format(v).format == chat_format::chatml);
  v.chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}";
  CHECK(detect_chat_format(v).format == chat_format::chatml);
  v.chat_template = "{{ something else }}";
  CHECK_FALSE(detect_chat_format(v).warning.empty());
}

TEST_CASE("streaming decode never splits a character and ends with the whole text") {
  const tokenizer tok(load_tokenizer_json(std::string(STRIX_TINY_CHAT_DIR) + "/tokenizer.json"));
  const std::string text = "Ünïcödé ✓ 東京 🙂 and bytes: \xF0\x9F\xA6\x80 done";
  const auto ids = tok.encode(text);
  streaming_decoder decoder(tok);
  std::string out;
  for (const auto id : ids) {
    const std::string piece = decoder.push(id);
    CHECK(is_valid_utf8(piece));
    out += piece;
  }
  out += decoder.finish();
  CHECK(out == text);
}
