// A one-node graph for the bad-parameter tests: inputs are graph inputs (var) or initializers (cst),
// "" marks an omitted optional input (none); error() runs it on the CPU backend and returns the
// error line (test::error_of), with its kind.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "netlens/cpu.hpp"
#include "netlens/runtime.hpp"
#include "test_util.hpp"

namespace netlens::test {

struct OneNode {
  Graph g;
  std::map<std::string, Tensor> feeds;
  // The default ONNX domain at `opset`; another domain (com.microsoft) is declared at version 1.
  OneNode(const std::string& op, int64_t opset, const std::string& domain = "") {
    g.opsets[""] = opset;
    if (!domain.empty()) g.opsets[domain] = 1;
    g.nodes.push_back(Node{"bad_" + op, op, domain, {}, {"y"}, {}});
  }
  Node& node() { return g.nodes[0]; }
  OneNode& var(const std::string& name, Tensor v) {
    ValueInfo vi{name, v.dtype(), {}, true};
    for (int64_t d : v.shape()) vi.dims.push_back(Dim{d, ""});
    g.inputs.push_back(vi);
    feeds[name] = std::move(v);
    node().inputs.push_back(name);
    return *this;
  }
  OneNode& cst(const std::string& name, Tensor v) {
    g.initializers[name] = std::move(v);
    node().inputs.push_back(name);
    return *this;
  }
  OneNode& none() {
    node().inputs.push_back("");
    return *this;
  }
  std::string error(ErrorKind* kind) {
    g.outputs.push_back(ValueInfo{"y", DType::Undefined, {}, false});
    std::unique_ptr<Backend> cpu = make_cpu_backend();
    return test::error_of([&] {
      Session s(g, {cpu.get()});
      s.run(feeds);
    }, kind);
  }
};

}  // namespace netlens::test
