// expose_outputs IN.onnx OUT.onnx [LIST.tsv]
// Writes a copy of IN with the output of every node of the main graph added to the graph outputs,
// so that onnxruntime (run with optimisations disabled) returns every intermediate tensor and the
// model tests can compare each one against netlens' activations. LIST.tsv gets one line per node
// output, in node (topological) order: tensor name, op type, node name ("" when unnamed), so a
// test can say which node produced the first tensor that differs.
//
// An added output keeps the type the model declares in value_info when it has one; otherwise it is
// added by name only. onnxruntime 1.22 accepts name-only graph outputs (it infers their type; the
// test's oracle run fails loudly if it ever stops doing so). Subgraph (If/Loop) tensors are not
// exposed: they are not graph-level values.
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <onnx/onnx_pb.h>  // defines ONNX_API, then includes onnx-ml.pb.h (ONNX_ML=1)

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::cerr << "usage: expose_outputs IN.onnx OUT.onnx [LIST.tsv]\n";
    return 2;
  }
  const std::string in = argv[1], out = argv[2];
  std::ifstream f(in, std::ios::binary);
  if (!f) {
    std::cerr << "expose_outputs: " << in << ": cannot open\n";
    return 1;
  }
  std::stringstream bytes;
  bytes << f.rdbuf();
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes.str())) {
    std::cerr << "expose_outputs: " << in << ": not an ONNX model (protobuf parse failed)\n";
    return 1;
  }
  onnx::GraphProto* g = model.mutable_graph();

  std::set<std::string> present;
  for (const auto& o : g->output()) present.insert(o.name());
  std::set<std::string> not_activations;  // inputs and initializers are not node outputs anyway
  for (const auto& i : g->input()) not_activations.insert(i.name());
  for (const auto& i : g->initializer()) not_activations.insert(i.name());

  std::map<std::string, const onnx::ValueInfoProto*> declared;
  for (const auto& v : g->value_info())
    if (v.has_type()) declared[v.name()] = &v;

  std::ostringstream list;
  int added = 0;
  for (const auto& node : g->node()) {
    for (const auto& name : node.output()) {
      if (name.empty() || not_activations.count(name)) continue;
      list << name << '\t' << node.op_type() << '\t' << node.name() << '\n';
      if (present.count(name)) continue;
      present.insert(name);
      onnx::ValueInfoProto* vi = g->add_output();
      vi->set_name(name);
      auto d = declared.find(name);
      if (d != declared.end()) *vi->mutable_type() = d->second->type();
      ++added;
    }
  }

  std::ofstream o(out, std::ios::binary | std::ios::trunc);
  if (!o || !model.SerializeToOstream(&o)) {
    std::cerr << "expose_outputs: " << out << ": cannot write\n";
    return 1;
  }
  if (argc == 4) {
    std::ofstream l(argv[3], std::ios::trunc);
    if (!(l << list.str())) {
      std::cerr << "expose_outputs: " << argv[3] << ": cannot write\n";
      return 1;
    }
  }
  std::cout << "expose_outputs: " << out << ": " << g->output_size() << " graph outputs (" << added
            << " added)\n";
  return 0;
}
