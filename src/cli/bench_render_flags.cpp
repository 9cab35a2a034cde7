#include "netlens/cli/bench_render_flags.hpp"

#include <algorithm>

#include "netlens/core.hpp"

namespace netlens::cli {

namespace {
std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t a = 0;
  while (a <= s.size()) {
    size_t b = s.find(',', a);
    if (b == std::string::npos) b = s.size();
    if (b > a) out.push_back(s.substr(a, b - a));
    a = b + 1;
  }
  return out;
}

}  // namespace

app::RenderBenchOptions parse_render_bench_flags(const std::vector<std::string>& args) {
  app::RenderBenchOptions o;
  const int argc = static_cast<int>(args.size()) + 1;
  auto arg = [&](int i) { return args[static_cast<size_t>(i - 1)]; };
  for (int i = 1; i < argc; ++i) {
    std::string a = arg(i);
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw Error(ErrorKind::Usage, a + " needs a value");
      ++i;
      return arg(i);
    };
    if (a == "--neurons") { o.neurons.clear(); for (auto& t : split(next())) o.neurons.push_back(std::stod(t)); }
    else if (a == "--sizes") {
      o.sizes.clear();
      for (auto& t : split(next())) {
        auto x = t.find('x');
        if (x == std::string::npos) throw Error(ErrorKind::Usage, "--sizes expects WxH[,WxH...]");
        o.sizes.emplace_back(std::stoi(t.substr(0, x)), std::stoi(t.substr(x + 1)));
      }
    } else if (a == "--frames") o.frames = std::max(1, std::stoi(next()));
    else if (a == "--no-vgg16") o.vgg16 = false;
    else if (a == "--png") o.png_dir = next();
    else if (a == "--gpu") o.gpu = std::stoi(next());
    else if (a == "--quick") { o.neurons = {1e4, 1e6}; o.sizes = {{1280, 720}}; o.frames = 3; }
    else throw Error(ErrorKind::Usage, "unknown option " + a);
  }
  return o;
}

}  // namespace netlens::cli
