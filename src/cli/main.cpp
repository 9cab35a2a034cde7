// netlens: look inside a neural network while it runs.
#include <cstdio>
#include <exception>
#include <new>

#include "netlens/cli/command.hpp"

namespace {

void print_usage(FILE* f) {
  std::fprintf(f, "usage: netlens COMMAND [options]\n\ncommands:\n");
  for (const auto& [name, c] : netlens::cli::commands())
    std::fprintf(f, "  %-14s %s\n", name.c_str(), c.summary.c_str());
  std::fprintf(f, "\n'netlens COMMAND --help' shows a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace netlens;
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  auto& cmds = cli::commands();
  auto it = cmds.find(name);
  if (it == cmds.end()) {
    std::fprintf(stderr, "netlens: unknown command '%s'\n", name.c_str());
    print_usage(stderr);
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      std::printf("usage: netlens %s\n%s\n", it->second.usage.c_str(), it->second.summary.c_str());
      return 0;
    }
  try {
    return it->second.run(args);
  } catch (const Error& e) {
    std::fprintf(stderr, "netlens %s: error: %s\n", name.c_str(), e.what());
    if (e.kind() == ErrorKind::Usage) {
      std::fprintf(stderr, "usage: netlens %s\n", it->second.usage.c_str());
      return 2;
    }
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "netlens %s: error: out of memory\n", name.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "netlens %s: internal error: %s\n", name.c_str(), e.what());
    return 1;
  }
}
