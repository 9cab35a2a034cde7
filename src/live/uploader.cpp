#include "netlens/live/uploader.hpp"

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

}  // namespace netlens::live
