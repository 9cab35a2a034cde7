// The `netlens` command's subcommand registry and a small argument parser.
// Each subcommand lives in its own cmd_*.cpp, compiled into the executable (not a library, so its
// static registrar is never dropped by the linker), and registers itself with NETLENS_COMMAND.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "netlens/core.hpp"

namespace netlens::cli {

// Parses "--flag value", "--flag=value" and boolean "--flag"; positional arguments in order.
// Unknown flags and missing values are Error{Usage}.
class Args {
 public:
  // `flags` lists every accepted flag (without "--"); those in `booleans` take no value; those in
  // `repeated` may be given several times.
  Args(const std::vector<std::string>& argv, const std::vector<std::string>& flags,
       const std::vector<std::string>& booleans = {}, const std::vector<std::string>& repeated = {});
  const std::vector<std::string>& positional() const { return positional_; }
  bool has(const std::string& flag) const { return values_.count(flag) != 0; }
  std::optional<std::string> get(const std::string& flag) const;
  std::string get_or(const std::string& flag, const std::string& def) const;
  std::vector<std::string> all(const std::string& flag) const;
  int64_t get_int(const std::string& flag, int64_t def) const;
  double get_double(const std::string& flag, double def) const;

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> values_;
};

struct Command {
  std::string name;
  std::string usage;    // one line: "info MODEL [--input-shape NAME=1x3x224x224]"
  std::string summary;  // one line
  std::function<int(const std::vector<std::string>&)> run;
};

std::map<std::string, Command>& commands();

struct CommandRegistrar {
  explicit CommandRegistrar(Command c) { commands()[c.name] = std::move(c); }
};

#define NETLENS_CONCAT2(a, b) a##b
#define NETLENS_CONCAT(a, b) NETLENS_CONCAT2(a, b)
#define NETLENS_COMMAND(...) \
  static ::netlens::cli::CommandRegistrar NETLENS_CONCAT(netlens_command_, __LINE__){::netlens::cli::Command{__VA_ARGS__}}

}  // namespace netlens::cli
