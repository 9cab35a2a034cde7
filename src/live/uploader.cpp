#include "netlens/live/uploader.hpp"

#include <cstring>

#include "netlens/live/pipeline.hpp"
#include "netlens/viz/values.hpp"

namespace netlens::live {

void ResultUploader::capture(const Session& s, const viz::Layout& layout, LiveResult& r) {
  // value_fetch: quantized (int8/uint8) layers are drawn by their real values.
  r.scene = viz::build_scene(layout, viz::value_fetch(s, viz::ValueMode::Activation));
}

double StagingUploader::apply(LiveResult& r, ResultSink& sink) { return sink.show_scene(std::move(r.scene)).total_ms; }

std::unique_ptr<ResultUploader> make_uploader(const std::string& interop, const std::string& backend,
                                              const std::string& backend_reason, std::string* line,
                                              const std::string& interop_reason) {
  if (interop != "auto" && interop != "off" && interop != "on")
    throw Error(ErrorKind::Usage, "--interop must be auto, on or off, got '" + interop + "'");
  if (interop == "on")
    throw Error(ErrorKind::Device, "--interop on: " + (interop_reason.empty() ? std::string("interop is not available here") : interop_reason));
  auto up = std::make_unique<StagingUploader>();
  std::string why;
  if (interop == "off") why = "--interop off";
  else if (backend != "cuda") why = backend_reason.empty() ? "no CUDA device" : backend_reason;
  else why = interop_reason.empty() ? "CUDA-Vulkan interop is not available here" : interop_reason;
  if (line) *line = "live: " + backend + " backend + " + up->name() + " (" + why + ")";
  return up;
}

namespace {
InteropFactory& interop_factory() {
  static InteropFactory f = nullptr;
  return f;
}
}  // namespace

void register_interop_path(InteropFactory f) { interop_factory() = f; }
bool interop_built() { return interop_factory() != nullptr; }

std::unique_ptr<InteropPath> make_interop_path(const std::string& interop, bool validation, std::string* why,
                                               const render::ContextOptions* base) {
  if (interop != "auto" && interop != "on") throw Error(ErrorKind::Usage, "--interop must be auto or on here, got '" + interop + "'");
  if (!interop_factory()) {
    const std::string reason = "this netlens was built without CUDA-Vulkan interop";
    if (interop == "on") throw Error(ErrorKind::Device, "--interop on: " + reason);
    if (why) *why = reason;
    return nullptr;
  }
  return interop_factory()(interop, validation, why, base);
}

std::optional<float> read_value(const Session& s, const std::string& tensor, int64_t flat) {
  const PlannedTensor* p = s.activations().find(tensor);
  if (!p || flat < 0 || flat >= numel(p->info.shape)) return std::nullopt;
  const DType dt = p->info.dtype;
  if (dt == DType::Float32 || dt == DType::Float16 || dt == DType::BFloat16 || dt == DType::Float64) {
    if (p->constant || p->backend < 0 || static_cast<size_t>(p->backend) >= s.backends().size()) {
      Tensor t = s.activations().fetch(tensor).cast(DType::Float32);
      return t.data_as<float>()[flat];
    }
    const TensorView v = s.activations().device_view(tensor);
    const size_t es = dtype_size(dt);
    unsigned char b[8] = {};
    s.backends()[static_cast<size_t>(p->backend)]->copy_to_host(b, static_cast<const unsigned char*>(v.data) + static_cast<size_t>(flat) * es, es);
    if (dt == DType::Float32) { float f; std::memcpy(&f, b, 4); return f; }
    if (dt == DType::Float64) { double d; std::memcpy(&d, b, 8); return static_cast<float>(d); }
    uint16_t h;
    std::memcpy(&h, b, 2);
    return dt == DType::Float16 ? half_to_float(h) : bfloat16_to_float(h);
  }
  // Quantized (int8/uint8 with scales) and other tensors: their real values, as the scene shows them.
  Tensor t = viz::value_fetch(s, viz::ValueMode::Activation)(tensor);
  if (!t.defined() || flat >= t.numel()) return std::nullopt;
  if (t.dtype() != DType::Float32) t = t.cast(DType::Float32);
  return t.data_as<float>()[flat];
}

}  // namespace netlens::live
