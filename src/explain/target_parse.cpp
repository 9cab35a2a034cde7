// Targets: the --target text (parse_target) and --score (parse_score).
#include <algorithm>
#include <cctype>
#include <charconv>

#include "netlens/explain.hpp"

namespace netlens::explain {
namespace {

[[noreturn]] void usage(const std::string& msg) { throw Error(ErrorKind::Usage, msg); }

const char* kGrammar =
    "class:N | class:LABEL | loss:N | loss:LABEL | output:TENSOR[:i,j,...] | region:TENSOR:x0,y0,x1,y1[:C] | "
    "ctc[:TENSOR][:T] | char:[TENSOR:]K";

bool parse_uint(std::string_view s, int64_t& v) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return std::from_chars(s.data(), s.data() + s.size(), v).ec == std::errc{};
}

// "1,2,3", "[1, 2, 3]" → numbers; false when not such a list.
bool parse_uint_list(std::string s, std::vector<int64_t>& out) {
  out.clear();
  if (!s.empty() && s.front() == '[') {
    if (s.back() != ']') return false;
    s = s.substr(1, s.size() - 2);
  }
  size_t pos = 0;
  while (true) {
    size_t end = s.find(',', pos);
    std::string part = s.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    part.erase(std::remove(part.begin(), part.end(), ' '), part.end());
    int64_t v = 0;
    if (!parse_uint(part, v)) return false;
    out.push_back(v);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return true;
}

// Splits "A:B" at the last ':' → (A, B); no ':' → ("", text).
std::pair<std::string, std::string> split_last(const std::string& s) {
  const size_t c = s.rfind(':');
  if (c == std::string::npos) return {"", s};
  return {s.substr(0, c), s.substr(c + 1)};
}

}  // namespace

Score parse_score(const std::string& text) {
  if (text == "logit") return Score::Logit;
  if (text == "prob" || text == "probability") return Score::Probability;
  usage("--score must be logit or prob, got '" + text + "'");
}

TargetSpec parse_target(const std::string& text, Score score) {
  TargetSpec t;
  t.text = text;
  t.score = score;
  if (text.empty()) return t;
  const size_t colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : text.substr(colon + 1);
  auto bad = [&](const std::string& why) -> void {
    usage("bad --target '" + text + "': " + why + " (expected " + kGrammar + ")");
  };
  if (kind == "class" || kind == "loss") {
    t.kind = kind == "class" ? TargetSpec::Kind::Class : TargetSpec::Kind::Loss;
    if (rest.empty()) bad(kind + " needs a class index or label");
    if (!parse_uint(rest, t.cls)) {
      if (!rest.empty() && (rest[0] == '-' || std::isdigit(static_cast<unsigned char>(rest[0]))) &&
          rest.find_first_not_of("-0123456789") == std::string::npos)
        bad("a class index is a number >= 0");
      t.label = rest;
    }
  } else if (kind == "output") {
    t.kind = TargetSpec::Kind::Output;
    if (rest.empty()) bad("output needs a tensor name");
    auto [head, last] = split_last(rest);
    std::vector<int64_t> idx;
    if (!head.empty() && parse_uint_list(last, idx)) {
      t.tensor = head;
      t.index = idx;
    } else {
      t.tensor = rest;
    }
  } else if (kind == "region") {
    t.kind = TargetSpec::Kind::Region;
    auto [head, last] = split_last(rest);
    std::vector<int64_t> box;
    int64_t ch = -1;
    if (parse_uint(last, ch)) {  // ...:x0,y0,x1,y1:C
      auto [h2, l2] = split_last(head);
      head = h2;
      last = l2;
      t.channel = ch;
    }
    if (head.empty() || !parse_uint_list(last, box) || box.size() != 4)
      bad("region needs a tensor and a box x0,y0,x1,y1 of non-negative integers");
    t.tensor = head;
    t.x0 = box[0], t.y0 = box[1], t.x1 = box[2], t.y1 = box[3];
    if (t.x1 <= t.x0 || t.y1 <= t.y0) bad("the box is empty (it needs x0 < x1 and y0 < y1)");
  } else if (kind == "ctc") {
    if (rest.empty()) {
      t.kind = TargetSpec::Kind::CtcAll;
    } else if (parse_uint(rest, t.step)) {
      t.kind = TargetSpec::Kind::Ctc;
    } else {
      auto [head, last] = split_last(rest);
      if (!head.empty() && parse_uint(last, t.step)) {
        t.kind = TargetSpec::Kind::Ctc;
        t.tensor = head;
      } else {
        t.kind = TargetSpec::Kind::CtcAll;
        t.tensor = rest;
      }
    }
  } else if (kind == "char") {
    t.kind = TargetSpec::Kind::CtcChar;
    auto [head, last] = split_last(rest);
    if (!parse_uint(last, t.char_index)) bad("char needs the index K >= 0 of a decoded character");
    t.tensor = head;
  } else {
    bad("unknown target kind '" + kind + "'");
  }
  return t;
}

}  // namespace netlens::explain
