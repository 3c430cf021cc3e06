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

TEST_CASE("Gemma 4 tool syntax converts to and from JSON") {
  const nlohmann::json args{{"city", "Paris, FR"}, {"days", 3}, {"units", {"c", "f"}}, {"nested", {{"x", true}, {"y", nullptr}, {"z", -1.5}}}};
  const std::string q = "<|\"|>";
  const std::string gemma = json_to_gemma4_value(args);
  CHECK(gemma == "{city:" + q + "Paris, FR" + q + ",days:3,nested:{x:true,y:null,z:-1.5},units:[" + q + "c" + q + "," + q + "f" + q + "]}");
  CHECK(gemma4_value_to_json(gemma) == args);
  // Delimited strings may hold the syntax's own characters; spaces between items are allowed.
  CHECK(gemma4_value_to_json("{ a : " + q + "x:{y}, [z]" + q + " , b : [ 1 , 2 ] }") == nlohmann::json{{"a", "x:{y}, [z]"}, {"b", {1, 2}}});
  CHECK(gemma4_value_to_json("{}") == nlohmann::json::object());
  CHECK_THROWS(gemma4_value_to_json("{a:" + q + "unterminated}"));
  CHECK_THROWS(gemma4_value_to_json("{a:1"));
  CHECK_THROWS(gemma4_value_to_json("{a:}"));
}

TEST_CASE("Gemma 4 tool calls are separated from the reply") {
  const std::string q = "<|\"|>";
  const reply_with_tools r = extract_gemma4_tool_calls("Let me check.<|tool_call>call:get_weather{city:" + q + "Paris" + q +
                                                       "}<tool_call|><|tool_call>call:get_time{zone:" + q + "CET" + q + "}<tool_call|>");
  CHECK(r.content == "Let me check.");
  REQUIRE(r.calls.size() == 2);
  CHECK(r.calls[0].name == "get_weather");
  CHECK(nlohmann::json::parse(r.calls[0].arguments) == nlohmann::json{{"city", "Paris"}});
  CHECK(r.calls[1].name == "get_time");
  // A block that does not parse, or is not closed, stays text.
  const std::string broken = "x<|tool_call>call:f{a:<tool_call|>y<|tool_call>call:g{";
  const reply_with_tools b = extract_gemma4_tool_calls(broken);
  CHECK(b.calls.empty());
  CHECK(b.content == broken);
}

TEST_CASE("Gemma 4 renders tool declarations, calls and results in one model turn") {
  const std::string q = "<|\"|>";
  chat_options options;
  options.tools = nlohmann::json::parse(R"([{"type":"function","function":{"name":"get_weather","description":"Weather now",
      "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}])");
  const std::vector<chat_message> messages{{"user", "Weather in Paris?"},
                                           {"assistant", "", {{"get_weather", R"({"city":"Paris"})"}}},
                                           {"tool", R"({"celsius":21})", {}, "get_weather"},
                                           {"tool", "sunny", {}, "get_weather"}};
  CHECK(render_chat(chat_format::gemma4, messages, options) ==
        "<|turn>system\n<|tool>declaration:get_weather{description:" + q + "Weather now" + q + ",parameters:{properties:{city:{type:" + q +
            "string" + q + "}},required:[" + q + "city" + q + "],type:" + q + "object" + q + "}}<tool|><turn|>\n"
            "<|turn>user\nWeather in Paris?<turn|>\n"
            "<|turn>model\n<|tool_call>call:get_weather{city:" + q + "Paris" + q + "}<tool_call|>"
            "<|tool_response>response:get_weather{celsius:21}<tool_response|>"
            "<|tool_response>response:get_weather{result:" + q + "sunny" + q + "}<tool_response|>");
  // The model's answer after the results completes the same turn.
  std::vector<chat_message> answered = messages;
  answered.emplace_back("assistant", "It is 21 °C and sunny.");
  answered.emplace_back("user", "Thanks");
  const std::string rendered = render_chat(chat_format::gemma4, answered, options);
  CHECK(rendered.find("<tool_response|>It is 21 °C and sunny.<turn|>\n<|turn>user\nThanks<turn|>\n<|turn>model\n") != std::string::npos);
  CHECK_THROWS(render_chat(chat_format::gemma4, std::vector<chat_message>{{"tool", "x", {}, "f"}}));
  CHECK_THROWS(render_chat(chat_format::chatml, messages, options));
}
