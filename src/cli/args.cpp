#include <algorithm>
#include <charconv>

#include "netlens/cli/command.hpp"

namespace netlens::cli {

std::map<std::string, Command>& commands() {
  static std::map<std::string, Command> c;
  return c;
}

Args::Args(const std::vector<std::string>& argv, const std::vector<std::string>& flags,
           const std::vector<std::string>& booleans, const std::vector<std::string>& repeated) {
  auto known = [&](const std::string& f) { return std::find(flags.begin(), flags.end(), f) != flags.end(); };
  auto is_bool = [&](const std::string& f) { return std::find(booleans.begin(), booleans.end(), f) != booleans.end(); };
  auto is_rep = [&](const std::string& f) { return std::find(repeated.begin(), repeated.end(), f) != repeated.end(); };
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    const size_t eq = name.find('=');
    bool has_value = false;
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (!known(name) && !is_bool(name)) throw Error(ErrorKind::Usage, "unknown option --" + name);
    if (is_bool(name)) {
      if (has_value) throw Error(ErrorKind::Usage, "option --" + name + " takes no value");
      values_[name].push_back("1");
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argv.size()) throw Error(ErrorKind::Usage, "option --" + name + " needs a value");
      value = argv[++i];
    }
    if (values_.count(name) && !is_rep(name)) throw Error(ErrorKind::Usage, "option --" + name + " given twice");
    values_[name].push_back(value);
  }
}

std::optional<std::string> Args::get(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::string Args::get_or(const std::string& flag, const std::string& def) const { return get(flag).value_or(def); }

std::vector<std::string> Args::all(const std::string& flag) const {
  auto it = values_.find(flag);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

int64_t Args::get_int(const std::string& flag, int64_t def) const {
  auto v = get(flag);
  if (!v) return def;
  int64_t x = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc() || p != v->data() + v->size())
    throw Error(ErrorKind::Usage, "option --" + flag + " expects an integer, got '" + *v + "'");
  return x;
}

double Args::get_double(const std::string& flag, double def) const {
  auto v = get(flag);
  if (!v) return def;
  try {
    size_t used = 0;
    const double x = std::stod(*v, &used);
    if (used != v->size()) throw std::invalid_argument("");
    return x;
  } catch (const std::exception&) {
    throw Error(ErrorKind::Usage, "option --" + flag + " expects a number, got '" + *v + "'");
  }
}

}  // namespace netlens::cli
