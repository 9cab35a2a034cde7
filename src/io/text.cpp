// Text → token ids (text.hpp).
#include "netlens/text.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace netlens {

namespace {

// Length of the UTF-8 sequence starting with byte c, or 0 when c cannot start one.
int utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return c >= 0xC2 ? 2 : 0;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return c <= 0xF4 ? 4 : 0;
  return 0;
}

uint32_t code_point(const std::string& ch) {
  const auto* p = reinterpret_cast<const unsigned char*>(ch.data());
  switch (ch.size()) {
    case 1: return p[0];
    case 2: return (p[0] & 0x1Fu) << 6 | (p[1] & 0x3Fu);
    case 3: return (p[0] & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu);
    default: return (p[0] & 0x07u) << 18 | (p[1] & 0x3Fu) << 12 | (p[2] & 0x3Fu) << 6 | (p[3] & 0x3Fu);
  }
}

std::string label_of(const std::string& ch) {
  if (ch == "\n") return "\\n";
  if (ch == "\t") return "\\t";
  if (ch == "\r") return "\\r";
  if (ch.size() == 1 && static_cast<unsigned char>(ch[0]) < 0x20) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(ch[0]));
    return buf;
  }
  return ch;
}

}  // namespace

Vocabulary Vocabulary::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorKind::Io, path + ": cannot read the vocabulary");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string body = ss.str();
  Vocabulary v;
  v.path_ = path;
  if (std::filesystem::path(path).extension() == ".json") {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorKind::Input, path + ": not JSON (" + std::string(e.what()) + ")");
    }
    if (j.is_object() && j.contains("tokens")) {
      if (j.contains("tokenizer")) {
        if (!j["tokenizer"].is_string()) throw Error(ErrorKind::Input, path + ": \"tokenizer\" is not a string");
        v.declared_ = j["tokenizer"].get<std::string>();
        if (v.declared_ != "char" && v.declared_ != "word" && v.declared_ != "wordpiece")
          throw Error(ErrorKind::Input, path + ": \"tokenizer\" '" + v.declared_ + "' is not one of char, word, wordpiece");
      }
      auto token_list = [&](const char* key, std::vector<std::string>& out) {
        if (!j.contains(key)) return;
        if (!j[key].is_array()) throw Error(ErrorKind::Input, path + ": \"" + key + "\" is not a list of tokens");
        for (const auto& e : j[key]) {
          if (!e.is_string()) throw Error(ErrorKind::Input, path + ": \"" + key + "\" has an entry that is not a string");
          out.push_back(e.get<std::string>());
        }
      };
      token_list("prepend", v.prepend_);
      token_list("append", v.append_);
      if (j.contains("max_tokens")) {
        if (!j["max_tokens"].is_number_integer() || j["max_tokens"].get<int64_t>() <= 0)
          throw Error(ErrorKind::Input, path + ": \"max_tokens\" is not a positive integer");
        v.max_tokens_ = j["max_tokens"].get<size_t>();
      }
      j = nlohmann::json(j["tokens"]);
    }
    if (!j.is_array()) throw Error(ErrorKind::Input, path + ": a vocabulary is a JSON list of token strings");
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_string()) throw Error(ErrorKind::Input, path + ": entry " + std::to_string(i) + " is not a string");
      v.tokens_.push_back(j[i].get<std::string>());
    }
  } else {
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      v.tokens_.push_back(line);
    }
  }
  if (v.tokens_.empty()) throw Error(ErrorKind::Input, path + ": the vocabulary is empty");
  for (size_t i = 0; i < v.tokens_.size(); ++i) {
    if (!v.index_.emplace(v.tokens_[i], static_cast<int64_t>(i)).second)
      throw Error(ErrorKind::Input, path + ": token '" + label_of(v.tokens_[i]) + "' is listed twice (entries " +
                                        std::to_string(v.index_.at(v.tokens_[i])) + " and " + std::to_string(i) + ")");
  }
  for (const auto* list : {&v.prepend_, &v.append_})
    for (const std::string& tok : *list)
      if (!v.find(tok)) throw Error(ErrorKind::Input, path + ": \"" + (list == &v.prepend_ ? "prepend" : "append") +
                                                        "\" names '" + label_of(tok) + "', which is not one of its tokens");
  for (const char* unk : {"<unk>", "[UNK]", "<UNK>"})
    if (auto id = v.find(unk); id && !v.unk_) v.unk_ = id;
  return v;
}

std::optional<int64_t> Vocabulary::find(const std::string& token) const {
  auto it = index_.find(token);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

TextTokens tokenize_chars(const std::string& text, const Vocabulary* vocab) {
  if (text.empty()) throw Error(ErrorKind::Input, "--text: the text is empty");
  TextTokens t;
  if (!vocab) {
    for (char c : text) {
      t.ids.push_back(static_cast<unsigned char>(c));
      t.labels.push_back(label_of(std::string(1, c)));
    }
    return t;
  }
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++chars) {
    const int n = utf8_len(static_cast<unsigned char>(text[i]));
    bool ok = n > 0 && i + static_cast<size_t>(n) <= text.size();
    for (int k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(text[i + static_cast<size_t>(k)]) & 0xC0) == 0x80;
    if (!ok) throw Error(ErrorKind::Input, "--text: invalid UTF-8 at byte " + std::to_string(i));
    const std::string ch = text.substr(i, static_cast<size_t>(n));
    i += static_cast<size_t>(n);
    std::optional<int64_t> id = vocab->find(ch);
    if (!id) id = vocab->unknown_id();
    if (!id) {
      char cp[16];
      std::snprintf(cp, sizeof cp, "U+%04X", code_point(ch));
      throw Error(ErrorKind::Input, "--text: character '" + label_of(ch) + "' (" + cp + ") at character " +
                                        std::to_string(chars) + " is not in the vocabulary " + vocab->path() + " (" +
                                        std::to_string(vocab->size()) + " tokens)");
    }
    t.ids.push_back(*id);
    t.labels.push_back(label_of(ch));
  }
  return t;
}

Tensor text_tensor(const TextTokens& t, const ValueInfo& vi) {
  const int64_t n = static_cast<int64_t>(t.ids.size());
  Shape shape;
  if (vi.has_shape && vi.dims.size() == 1) {
    shape = {n};
  } else if (!vi.has_shape || vi.dims.size() == 2) {
    const bool seq_first = vi.has_shape && !(vi.dims[0].fixed() && vi.dims[0].value == 1) &&
                           vi.dims[1].fixed() && vi.dims[1].value == 1;
    shape = seq_first ? Shape{n, 1} : Shape{1, n};
  } else {
    throw Error(ErrorKind::Input, "--text: input '" + vi.name + "' has rank " + std::to_string(vi.dims.size()) +
                                      "; token ids go into a rank-1 [T] or rank-2 [1, T] input");
  }
  const size_t seq_axis = shape.size() == 2 && shape[0] != 1 ? 0 : shape.size() - 1;
  if (vi.has_shape && vi.dims[seq_axis].fixed() && vi.dims[seq_axis].value != n)
    throw Error(ErrorKind::Input, "--text: " + std::to_string(n) + " tokens, but input '" + vi.name + "' takes exactly " +
                                      std::to_string(vi.dims[seq_axis].value));
  if (vi.dtype == DType::Int64) return Tensor::from_i64(shape, t.ids);
  Tensor r(vi.dtype == DType::Int32 ? DType::Int32 : DType::Float32, shape);
  if (vi.dtype == DType::Int32) {
    auto* p = static_cast<int32_t*>(r.data());
    for (int64_t i = 0; i < n; ++i) {
      if (t.ids[static_cast<size_t>(i)] > INT32_MAX)
        throw Error(ErrorKind::Input, "--text: token id " + std::to_string(t.ids[static_cast<size_t>(i)]) +
                                          " does not fit input '" + vi.name + "' (int32)");
      p[i] = static_cast<int32_t>(t.ids[static_cast<size_t>(i)]);
    }
    return r;
  }
  if (!is_float(vi.dtype))
    throw Error(ErrorKind::Input, "--text: input '" + vi.name + "' is " + std::string(dtype_name(vi.dtype)) +
                                      "; token ids need an integer (or float) input");
  auto* p = static_cast<float*>(r.data());
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(t.ids[static_cast<size_t>(i)]);
  return vi.dtype == DType::Float32 ? r : r.cast(vi.dtype);
}

std::string vocab_beside(const std::string& model_path) {
  namespace fs = std::filesystem;
  const fs::path p(model_path);
  for (const char* ext : {".vocab.json", ".vocab.txt"}) {
    const fs::path v = p.parent_path() / (p.stem().string() + ext);
    if (fs::exists(v)) return v.string();
  }
  return "";
}

}  // namespace netlens
