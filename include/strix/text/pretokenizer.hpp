// The byte-level pre-tokenizers, written as code instead of a regex engine: each one reproduces
// the leftmost-first, backtracking semantics of its Hugging Face regex (qwen2_split_regex and
// qwen35_split_regex, which differ only in where combining marks go), with Unicode classes from
// ICU (\p{L}, \p{N}, \p{M}, and \s as the White_Space property, as Oniguruma has it).
// Malformed UTF-8 bytes count as "other" characters, so no input can stall the splitter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <unicode/uchar.h>

#include <strix/text/utf8.hpp>
#include <strix/text/vocabulary.hpp>

namespace strix::text {

namespace detail {

// `mark`: \p{M}, told apart only where the pattern names it (qwen35); elsewhere marks are
// "other" characters (class 0), like punctuation.
enum char_class : std::uint8_t { letter = 1, number = 2, space = 4, line_break = 8, mark = 16 };

inline std::uint8_t classify(char32_t c, bool marks) {
  if (c < 0x80) {
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return letter;
    if (c >= '0' && c <= '9') return number;
    if (c == '\r' || c == '\n') return space | line_break;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return space;
    return 0;
  }
  const auto mask = U_GET_GC_MASK(static_cast<UChar32>(c));
  if (mask & U_GC_L_MASK) return letter;
  if (mask & U_GC_N_MASK) return number;
  if (marks && (mask & U_GC_M_MASK)) return mark;
  if (u_isUWhiteSpace(static_cast<UChar32>(c))) return space;
  return 0;
}

// Simple case folding of the letters the contractions use (ſ folds to s).
inline char32_t fold_contraction_letter(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c == 0x017F) return 's';
  return c;
}

struct coded_char {
  std::uint32_t offset;
  char32_t code;
  std::uint8_t cls;
};

}  // namespace detail

// Splits `text` into pre-tokens as `pre` (qwen2 or qwen35) does, calling emit(std::string_view)
// for each in order. `scratch` is reused between calls to avoid reallocating.
template <class Emit>
void split_byte_level(pre_tokenizer pre, std::string_view text, std::vector<detail::coded_char>& scratch, Emit&& emit) {
  using namespace detail;
  const bool marks = pre == pre_tokenizer::qwen35;
  const std::uint8_t word = marks ? letter | mark : letter;  // [\p{L}\p{M}] or \p{L}
  auto& chars = scratch;
  chars.clear();
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t length = utf8_length_at(text, pos);
    const char32_t c = utf8_code_point_at(text, pos, length);
    const bool malformed = length == 1 && static_cast<unsigned char>(text[pos]) >= 0x80;
    chars.push_back({static_cast<std::uint32_t>(pos), c, malformed ? std::uint8_t{0} : classify(c, marks)});
    pos += length;
  }
  const std::size_t n = chars.size();
  chars.push_back({static_cast<std::uint32_t>(text.size()), 0, 0});
  const auto is = [&](std::size_t i, std::uint8_t cls) { return i < n && (chars[i].cls & cls) != 0; };
  const auto is_other = [&](std::size_t i) { return i < n && chars[i].cls == 0; };
  const auto run_end = [&](std::size_t i, std::uint8_t cls) {
    while (is(i, cls)) ++i;
    return i;
  };

  std::size_t i = 0;
  while (i < n) {
    std::size_t end = i;
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (chars[i].code == '\'' && i + 1 < n) {
      const char32_t a = fold_contraction_letter(chars[i + 1].code);
      const char32_t b = i + 2 < n ? fold_contraction_letter(chars[i + 2].code) : 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd') end = i + 2;
      else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) end = i + 3;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+ (qwen35: [\p{L}\p{M}]+; a mark may also be the optional prefix)
    if (end == i) {
      if (!is(i, line_break | letter | number) && is(i + 1, word)) end = run_end(i + 1, word);
      else if (is(i, word)) end = run_end(i, word);
    }
    // \p{N}
    if (end == i && is(i, number)) end = i + 1;
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*` (qwen35: marks excluded too, as they are not class 0)
    if (end == i) {
      std::size_t j = i;
      if (chars[j].code == ' ' && is_other(j + 1)) ++j;
      if (is_other(j)) {
        while (is_other(j)) ++j;
        end = run_end(j, line_break);
      }
    }
    if (end == i && is(i, space)) {
      const std::size_t k = run_end(i, space);
      std::size_t last_break = k;
      for (std::size_t j = k; j-- > i;) {
        if (chars[j].cls & line_break) {
          last_break = j;
          break;
        }
      }
      if (last_break != k) end = last_break + 1;  // \s*[\r\n]+
      else if (k == n || k - i == 1) end = k;     // \s+(?!\S) at the end, or \s+
      else end = k - 1;                           // \s+(?!\S): leave the last space to the next word
    }
    emit(text.substr(chars[i].offset, chars[end].offset - chars[i].offset));
    i = end;
  }
}

}  // namespace strix::text
