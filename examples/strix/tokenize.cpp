// strix tokenize --model FILE (--text T | --text-file F | --jsonl F) [--special] [--add-bos]:
// token ids as JSON arrays. FILE is a GGUF file, a tokenizer.json or a Hugging Face folder. With
// --jsonl every line is one JSON string and gets one output line, so one process covers a corpus.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>
#include <strix/text/tokenizer.hpp>

#include "commands.hpp"
#include "models/model_vocabulary.hpp"

namespace strix::tool {

namespace {

text::vocabulary vocabulary_at(const std::string& path) {
  if (std::filesystem::is_regular_file(path) && !is_gguf_file(path)) return text::load_tokenizer_json(path);
  auto v = models::load_model_vocabulary(path);
  if (!v) throw error(error_category::format, path + ": has no tokenizer (no tokenizer.ggml.* metadata or tokenizer.json)");
  return std::move(*v);
}

std::string ids_json(const std::vector<text::token_id>& ids) {
  std::string out = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "print the token ids of a text as a JSON array");
  auto model = std::make_shared<std::string>();
  auto text_arg = std::make_shared<std::string>();
  auto text_file = std::make_shared<std::string>();
  auto jsonl = std::make_shared<std::string>();
  auto special = std::make_shared<bool>(false);
  auto add_bos = std::make_shared<bool>(false);
  cmd->add_option("--model", *model, "GGUF file, tokenizer.json or Hugging Face folder")->required();
  auto* t = cmd->add_option("--text", *text_arg, "the text");
  auto* f = cmd->add_option("--text-file", *text_file, "a file holding the text");
  auto* j = cmd->add_option("--jsonl", *jsonl, "a file of JSON strings, one per line; prints one array per line");
  t->excludes(f)->excludes(j);
  f->excludes(j);
  cmd->add_flag("--special", *special, "parse control-token text (e.g. <|turn>) as those tokens");
  cmd->add_flag("--add-bos", *add_bos, "prepend the BOS token when the tokenizer has one");
  cmd->callback([=] {
    const text::tokenizer tok(vocabulary_at(*model), *model);
    const text::encode_options options{.add_bos = *add_bos, .parse_control = *special};
    text::encode_workspace ws;
    std::vector<text::token_id> ids;
    if (!jsonl->empty()) {
      std::ifstream in(*jsonl, std::ios::binary);
      if (!in) throw error(error_category::io, *jsonl + ": cannot open");
      std::string line;
      for (std::size_t number = 1; std::getline(in, line); ++number) {
        nlohmann::json value;
        try {
          value = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
          throw error(error_category::format, *jsonl + ":" + std::to_string(number) + ": not JSON: " + e.what());
        }
        if (!value.is_string()) throw error(error_category::format, *jsonl + ":" + std::to_string(number) + ": not a JSON string");
        ids.clear();
        tok.encode(value.get_ref<const std::string&>(), options, ids, ws);
        std::printf("%s\n", ids_json(ids).c_str());
      }
      return;
    }
    std::string input = *text_arg;
    if (!text_file->empty()) {
      std::ifstream in(*text_file, std::ios::binary);
      if (!in) throw error(error_category::io, *text_file + ": cannot open");
      std::ostringstream all;
      all << in.rdbuf();
      input = all.str();
    } else if (t->count() == 0) {
      throw error(error_category::format, "give --text, --text-file or --jsonl");
    }
    tok.encode(input, options, ids, ws);
    std::printf("%s\n", ids_json(ids).c_str());
  });
}

}  // namespace strix::tool
