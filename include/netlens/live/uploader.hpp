// How a run's activations reach the frame on screen: one interface (ResultUploader), two
// implementations chosen by the data-path decision (data_path.hpp): StagingUploader here (host scene
// → staging buffers), and the CUDA↔Vulkan interop uploader (include/netlens/interop/live_uploader.hpp).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "netlens/viz/colormap.hpp"
#include "netlens/runtime.hpp"
#include "netlens/render/types.hpp"
#include "netlens/viz/scene.hpp"

namespace netlens::render {
struct ContextOptions;  // render/context.hpp (Vulkan): only named here
}  // namespace netlens::render

namespace netlens::live {

struct LiveResult;

// Where results are shown (the frame driver, app::View): an uploader says explicitly what changed.
// Render thread only, between two frames.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual const viz::Layout& layout() const = 0;
  // The scene shown (the one the sink's renderer borrows: Renderer::update_values).
  virtual const viz::Scene& scene() const = 0;
  // A host scene of the shown layout replaces the shown one; the renderer's buffers are rewritten in
  // place (Renderer::update_values), finished when this returns.
  virtual render::UploadStats show_scene(viz::Scene next) = 0;
  // A device-side update (the interop uploader): renderer().update_values_from_device(scene(), ...)
  // makes the codes on the GPU, then show_device_values takes the GPU's colour scales and the host
  // values the run carried: layer index -> values, only for the layers host_layers() asked for (a
  // zero-copy path copies nothing else back). The sink's other layers have no host values for this
  // result: it reads them on demand (a pick: one value; a panel: the tensor it shows).
  virtual render::Renderer& renderer() = 0;
  virtual void show_device_values(std::vector<viz::ColorScale> scales, std::map<int, std::vector<float>> host) = 0;
  // The layers whose host values each device result should carry (the selected neuron's, the
  // panels' layer). Asked after each device update, for the runs captured after it.
  virtual std::vector<int> host_layers() const { return {}; }
};

// Two halves: capture() on the inference thread right after a run (session locked) turns the
// session's activations into the result; apply() on the render thread makes the sink show it and
// returns the upload time in ms. An interop uploader writes nothing to the host in capture() but a
// payload (LiveResult::payload), and makes the codes on the device in apply().
class ResultUploader {
 public:
  virtual ~ResultUploader() = default;
  virtual std::string name() const = 0;  // e.g. "staging upload"
  // Default: the host scene (viz::build_scene over the session's activations) into r.scene.
  virtual void capture(const Session& s, const viz::Layout& layout, LiveResult& r);
  virtual double apply(LiveResult& r, ResultSink& sink) = 0;
  // Figures for the exit summary (e.g. the bytes copied to the host per result); "" when none.
  virtual std::string report() const { return ""; }
};

// Host scene → ResultSink::show_scene (staging buffers → device buffers).
class StagingUploader final : public ResultUploader {
 public:
  std::string name() const override { return "staging upload"; }
  double apply(LiveResult& r, ResultSink& sink) override;
};

// The uploader for `interop` ("auto" | "off") with a backend named `backend` ("cpu", "cuda"), and the
// start-up line naming the path taken and why, e.g. "live: cpu backend + staging upload (no CUDA device)".
// `backend_reason` says why that backend was chosen when it was not asked for explicitly.
// `interop_reason`: why interop is not used when the backend is CUDA (the CLI's data-path choice).
std::unique_ptr<ResultUploader> make_uploader(const std::string& interop, const std::string& backend,
                                              const std::string& backend_reason, std::string* line,
                                              const std::string& interop_reason = "");

// The CUDA↔Vulkan interop data path (implemented with interop, src/interop/live_uploader.cpp): the
// CUDA backend's activation arena is Vulkan-exported memory, each run signals a timeline semaphore
// on the backend's stream, and the render thread's one submission waits on it, makes the codes on
// the GPU (render::CodeBuilder) straight from the arena, and signals "consumed", which the next
// run's stream waits for before it overwrites the arena.
class InteropPath {
 public:
  virtual ~InteropPath() = default;
  virtual render::Context& context() = 0;            // the renderer's context (same GPU as CUDA)
  virtual std::function<DeviceBuffer(Backend&, size_t)> arena_allocator() = 0;  // SessionOptions's
  virtual void attach(Backend& cuda) = 0;            // the CUDA backend of the session (its stream)
  virtual ResultUploader& uploader() = 0;
  // Releases every CUDA wait on the render side's "consumed" signal; call before the session and
  // the CUDA backend are destroyed (they drain the stream).
  virtual void release() = 0;
};

// The interop path comes from the interop module, which registers its factory at start-up when it
// is built (src/interop/live_uploader.cpp: a static registrar; executables link netlens_interop whole
// archive). A build without CUDA or Vulkan simply lacks it: make_interop_path then says so.
using InteropFactory = std::unique_ptr<InteropPath> (*)(const std::string& interop, bool validation, std::string* why,
                                                        const render::ContextOptions* base);
void register_interop_path(InteropFactory f);
// Whether this netlens has the interop path (netlens_interop linked and registered).
bool interop_built();
// The interop path when `interop` ("auto" | "on") and this machine allow it (choose_data_path over
// the CUDA device and the Vulkan devices), else nullptr with the reason in *why (for the start-up
// line). `on` turns a missing requirement (the build's included) into Error{Device}. `validation`:
// Vulkan validation layers required. `base`: the context options the renderer needs besides interop's
// (a window's: app::window_context_options), null for offscreen frames.
std::unique_ptr<InteropPath> make_interop_path(const std::string& interop, bool validation, std::string* why,
                                               const render::ContextOptions* base = nullptr);

// One value of a session's tensor, read where the tensor lives (on a device: `dtype size` bytes
// copied back, not the tensor): element `flat` as float (float16/bfloat16/float64 converted;
// quantized tensors dequantized from a host copy of that tensor). nullopt when the session has no
// such tensor or element. For picking on a zero-copy path.
std::optional<float> read_value(const Session& s, const std::string& tensor, int64_t flat);

}  // namespace netlens::live
