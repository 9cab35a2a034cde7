// What `render --input` and `view --input` (a folder, a video or a camera) do before their live
// pipeline starts, written once: the CUDA-Vulkan interop path when this machine has it (its arena
// placed before the session is prepared), the session loaded, prepared and first run on the
// inference thread the pipeline then takes over (prepared once: one shared arena), and the uploader
// the results go through, with the start-up line that names the data path.
#pragma once

#include <memory>
#include <string>

#include "netlens/cli/common.hpp"
#include "netlens/live/feeder.hpp"
#include "netlens/live/inference_thread.hpp"
#include "netlens/live/pipeline.hpp"
#include "netlens/live/uploader.hpp"
#include "netlens/render/types.hpp"

namespace netlens::cli {

class LiveStart {
 public:
  // `mo`: the command's model options (the input's shape and, on the interop path, the arena
  // allocator are set here); `in`: the opened live input, its first frame the first run's input;
  // `interop`: auto|on|off; `window`: the window's context options (view), or nullptr (offscreen).
  LiveStart(ModelOptions& mo, Graph g, live::LiveInput& in, const std::string& interop, bool validation,
            const render::ContextOptions* window);
  // Releases CUDA's waits on the interop path before the session and its backends go.
  ~LiveStart();
  LiveStart(const LiveStart&) = delete;
  LiveStart& operator=(const LiveStart&) = delete;

  LoadedModel& model() { return model_; }
  live::InferenceThread& worker() { return worker_; }
  // The interop path, or nullptr (staging).
  live::InteropPath* interop() { return interop_.get(); }
  live::ResultUploader& uploader() { return *uploader_; }
  // "live: cuda backend + ..." or the staging path's line with its reason.
  const std::string& line() const { return line_; }
  // The pipeline's configuration for this input (the first tensor's name and dtype, the
  // preprocessing, the other inputs held fixed, this uploader); the command adds its own fields.
  live::LiveConfig config(const live::LiveInput& in) const;

 private:
  // Destroyed in reverse: staging, then the model (session, backends), then the inference thread,
  // then the interop path (the destructor released it first).
  std::unique_ptr<live::InteropPath> interop_;
  live::InferenceThread worker_;
  LoadedModel model_;
  std::unique_ptr<live::ResultUploader> staging_;
  live::ResultUploader* uploader_ = nullptr;
  std::string line_;
};

}  // namespace netlens::cli
