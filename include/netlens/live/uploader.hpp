// How a run's activations reach the frame on screen: one interface (ResultUploader), two
// implementations chosen by the data-path decision (data_path.hpp): StagingUploader here (host scene
// → staging buffers), and the CUDA↔Vulkan interop uploader (include/netlens/interop/live_uploader.hpp).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "netlens/viz/colormap.hpp"
#include "netlens/runtime.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/scene.hpp"

namespace netlens::live {

struct LiveResult;

// Where results are shown (the frame driver, app::View): an uploader says explicitly what changed.
// Render thread only, between two frames.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual const viz::Layout& layout() const = 0;
  // A host scene of the shown layout replaces the shown one; the renderer's buffers are rewritten in
  // place (Renderer::values_changed), finished when this returns.
  virtual render::UploadStats show_scene(viz::Scene next) = 0;
  // A device-side update: the renderer, for Renderer::codes_from_device, then show_device_values with
  // what it returned and the host copies of the values (picking, labels and panels read them).
  virtual render::Renderer& renderer() = 0;
  virtual void show_device_values(std::vector<viz::ColorScale> scales, std::vector<std::vector<float>> values) = 0;
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

}  // namespace netlens::live
