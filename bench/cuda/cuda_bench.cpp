// netlens_cuda_bench MODEL [NxCxHxW] [runs] [fp32|tf32|fp16]: latency of a model on the CUDA backend
// (CPU fallback for unsupported nodes) in the given precision (default fp32), every activation
// retained. Prints one JSON line:
//   {"model", "input", "precision", "runs", "median_ms", "min_ms", "flops", "gflops_per_s", "activation_bytes",
//    "weight_bytes", "gb_per_s", "cuda_nodes", "cpu_nodes"}
// Latency per Session::run (input upload + every node), after 10 warm-up runs: "median_ms" from CUDA
// events recorded on the legacy default stream around the run (the backend's stream is blocking,
// so they bracket its work), "host_median_ms" host wall-clock including the final sync;
// FLOPs count 2 per multiply-add of Conv/ConvTranspose/Gemm/MatMul; bytes are every activation
// written once and read once plus every weight read once (a lower bound).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include <cuda_runtime_api.h>

#include "netlens/cpu.hpp"
#include "netlens/cuda.hpp"
#include "netlens/onnx.hpp"

using namespace netlens;

static double node_flops(const Session& s, const Node& n) {
  auto info = [&](size_t i) -> const TensorInfo& { return s.info(n.inputs[i]); };
  const TensorInfo& out = s.info(n.outputs[0]);
  if (n.op_type == "Conv") {
    const Shape& w = info(1).shape;
    double k = 1;
    for (size_t d = 1; d < w.size(); ++d) k *= static_cast<double>(w[d]);
    return 2.0 * static_cast<double>(numel(out.shape)) * k;
  }
  if (n.op_type == "ConvTranspose") {
    const Shape& w = info(1).shape;
    double k = 1;
    for (size_t d = 1; d < w.size(); ++d) k *= static_cast<double>(w[d]);
    return 2.0 * static_cast<double>(numel(info(0).shape)) * k;
  }
  if (n.op_type == "Gemm" || n.op_type == "MatMul") {
    const Shape& a = info(0).shape;
    const double k = static_cast<double>(a.empty() ? 1 : (n.op_type == "Gemm" && n.attr_int("transA", 0) ? a[0] : a.back()));
    return 2.0 * static_cast<double>(numel(out.shape)) * k;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: netlens_cuda_bench MODEL [NxCxHxW] [runs] [fp32|tf32|fp16]\n");
    return 2;
  }
  try {
    const std::string path = argv[1];
    const int runs = argc > 3 ? std::max(1, std::atoi(argv[3])) : 50;
    Graph g = load_onnx(path);
    std::map<std::string, Shape> shapes;
    if (argc > 2 && !g.inputs.empty()) shapes[g.inputs[0].name] = parse_shape(argv[2]);
    const std::optional<Precision> precision = parse_precision(argc > 4 ? argv[4] : "fp32");
    if (!precision) throw Error(ErrorKind::Usage, std::string("precision must be fp32, tf32 or fp16, got '") + argv[4] + "'");
    auto cuda = make_cuda_backend(0, *precision);
    auto cpu = make_cpu_backend();
    Session s(g, {cuda.get(), cpu.get()});
    s.prepare(shapes);
    std::map<std::string, Tensor> in;
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> d(-1, 1);
    std::string in_shape;
    for (const ValueInfo& vi : g.inputs) {
      Tensor t(DType::Float32, s.info(vi.name).shape);
      for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(rng);
      in[vi.name] = s.info(vi.name).dtype == DType::Float32 ? t : t.cast(s.info(vi.name).dtype);
      if (in_shape.empty()) in_shape = shape_str(t.shape());
    }
    for (int i = 0; i < 10; ++i) s.run(in);
    std::vector<double> ms, host_ms;
    cudaEvent_t e0, e1;
    if (cudaEventCreate(&e0) != cudaSuccess || cudaEventCreate(&e1) != cudaSuccess)
      throw Error(ErrorKind::Device, "cudaEventCreate failed");
    for (int i = 0; i < runs; ++i) {
      cuda->synchronize();
      const auto t0 = std::chrono::steady_clock::now();
      cudaEventRecord(e0, nullptr);
      s.run(in);
      cudaEventRecord(e1, nullptr);
      cudaEventSynchronize(e1);
      cuda->synchronize();
      host_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      float ev = 0;
      cudaEventElapsedTime(&ev, e0, e1);
      ms.push_back(ev);
    }
    std::sort(ms.begin(), ms.end());
    std::sort(host_ms.begin(), host_ms.end());
    const double median = ms[ms.size() / 2];
    double flops = 0;
    for (const Node& n : g.nodes) flops += node_flops(s, n);
    const PlanReport& r = s.report();
    // Nodes folded to constants at prepare time run nowhere; the CPU ones are the fallbacks.
    const int cpu_nodes = static_cast<int>(r.fallback_nodes.size());
    const int cuda_nodes = static_cast<int>(g.nodes.size()) - r.folded_nodes - cpu_nodes;
    const double bytes = 2.0 * static_cast<double>(r.activation_bytes) + static_cast<double>(r.weight_bytes);
    std::string name = path.substr(path.find_last_of('/') + 1);
    std::printf("{\"model\": \"%s\", \"input\": \"%s\", \"precision\": \"%s\", \"runs\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, "
                "\"host_median_ms\": %.4f, \"flops\": %.6g, \"gflops_per_s\": %.2f, \"activation_bytes\": %zu, \"weight_bytes\": %zu, "
                "\"gb_per_s\": %.2f, \"cuda_nodes\": %d, \"cpu_nodes\": %d}\n",
                name.c_str(), in_shape.c_str(), precision_name(*precision), runs, median, ms.front(), host_ms[host_ms.size() / 2], flops, flops / (median * 1e6),
                r.activation_bytes, r.weight_bytes, bytes / (median * 1e6), cuda_nodes, cpu_nodes);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "netlens_cuda_bench: %s\n", e.what());
    return 1;
  }
}
