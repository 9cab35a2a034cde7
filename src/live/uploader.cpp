#include "uploader.hpp"

#include "pipeline.hpp"

namespace netlens::live {

void ResultUploader::capture(const Session& s, const viz::Layout& layout, LiveResult& r) {
  r.scene = viz::build_scene(layout, [&](const std::string& n) { return s.activations().fetch(n); });
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
