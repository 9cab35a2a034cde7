#include "live_interop.hpp"

#include <cstdint>
#include <mutex>

#include "code_builder.hpp"
#include "common.hpp"
#include "data_path.hpp"
#include "interop.hpp"
#include "renderer.hpp"

namespace netlens::cli {
namespace {

// What a run hands to the render thread: the timeline value CUDA signals when the run is done, the
// arena it wrote, where each shown tensor sits in it, and (filled after the signal) the host values.
struct Payload {
  uint64_t done = 0;
  std::shared_ptr<interop::SharedBuffer> arena;
  std::vector<uint64_t> offsets;
  std::vector<std::vector<float>> values;
};

class Uploader final : public app::ResultUploader {
 public:
  Uploader(render::Context& ctx, std::vector<std::shared_ptr<interop::SharedBuffer>>& arenas)
      : ctx_(ctx), arenas_(arenas), timeline_(ctx) {}
  ~Uploader() override { release(); }
  // A run's stream may still wait for a "consumed" that will never come (an error on the render
  // thread): release every wait, so that the CUDA backend's stream can drain when it is destroyed.
  void release() {
    if (released_) return;
    released_ = true;
    timeline_.vk().signal(UINT64_MAX / 2);
  }
  void attach(Backend& cuda) {
    cuda_ = &cuda;
    stream_ = cuda_backend_stream(cuda);
  }
  std::string name() const override { return "CUDA-Vulkan interop (zero-copy)"; }

  // Inference thread, right after Session::run.
  void capture(const Session& s, const viz::Layout& layout, app::LiveResult& r) override {
    if (!stream_ || arenas_.empty()) throw Error(ErrorKind::Internal, "interop uploader: no CUDA arena attached");
    auto p = std::make_shared<Payload>();
    {
      std::lock_guard<std::mutex> lk(m_);
      p->done = next_ += 2;  // run N done = 2N, its codes consumed = 2N + 1 (strictly increasing)
    }
    p->arena = arenas_.back();  // a re-prepared session (the pipeline's own thread) allocates anew
    p->offsets = render::arena_offsets(layout, s.planned(), /*backend=*/0);
    timeline_.cuda_signal(stream_, p->done);
    // Host values for picking, labels and panels. Copied before the wait below (a copy queued after
    // it would wait for the render thread, which waits for this result). This D2H copy is the one
    // host transfer left on the way to the frame; the codes themselves never leave the GPU.
    p->values = viz::layer_values(layout, [&](const std::string& n) { return s.activations().fetch(n); });
    // The next run must not overwrite the arena before the render thread has made its codes.
    timeline_.cuda_wait(stream_, p->done + 1);
    r.payload = p;
  }

  // Render thread.
  double apply(app::LiveResult& r, viz::Scene& shown, render::Renderer& renderer) override {
    auto p = std::static_pointer_cast<Payload>(r.payload);
    if (!p) throw Error(ErrorKind::Internal, "interop uploader: a result without its payload");
    if (!builder_ || builder_arena_ != p->arena.get() || offsets_ != p->offsets) {
      builder_ = std::make_unique<render::CodeBuilder>(ctx_, shown.layout, p->offsets, p->arena->size());
      builder_arena_ = p->arena.get();
      offsets_ = p->offsets;
    }
    render::Renderer::TimelinePoint wait{timeline_.semaphore(), p->done}, signal{timeline_.semaphore(), p->done + 1};
    render::UploadStats st;
    const auto scales = renderer.codes_from_device(*builder_, p->arena->buffer(), &wait, &signal, &st);
    for (size_t i = 0; i < scales.size() && i < shown.layers.size(); ++i) {
      shown.layers[i].scale = scales[i];
      if (i < p->values.size()) shown.layers[i].values = std::move(p->values[i]);
    }
    return st.total_ms;
  }

 private:
  render::Context& ctx_;
  std::vector<std::shared_ptr<interop::SharedBuffer>>& arenas_;
  interop::SharedTimeline timeline_;
  Backend* cuda_ = nullptr;
  bool released_ = false;
  void* stream_ = nullptr;
  std::mutex m_;
  uint64_t next_ = 0;
  std::unique_ptr<render::CodeBuilder> builder_;
  const interop::SharedBuffer* builder_arena_ = nullptr;
  std::vector<uint64_t> offsets_;
};

class Impl final : public LiveInterop {
 public:
  Impl(const CudaDeviceInfo& cuda, bool validation) : ctx_(options(cuda, validation)), up_(ctx_, arenas_) {}
  render::Context& context() override { return ctx_; }
  std::function<DeviceBuffer(Backend&, size_t)> arena_allocator() override {
    return interop::shared_arena_allocator(ctx_, 0, &arenas_);
  }
  void attach(Backend& cuda) override { up_.attach(cuda); }
  void release() override { up_.release(); }

 private:
  static render::ContextOptions options(const CudaDeviceInfo& cuda, bool validation) {
    render::ContextOptions o;
    if (validation) o.validation = true;
    return interop::interop_context_options(cuda, o);
  }
  app::ResultUploader& uploader() override { return up_; }

  render::Context ctx_;
  std::vector<std::shared_ptr<interop::SharedBuffer>> arenas_;  // outlive the uploader's builder
  Uploader up_;
};

}  // namespace

std::unique_ptr<LiveInterop> make_live_interop(const std::string& interop, bool validation, std::string* why) {
  const CudaDeviceInfo cuda = probe_cuda();
  std::vector<render::DeviceInfo> devs;
  try {
    devs = render::list_devices();
  } catch (const Error&) {
  }
  app::DataPathInputs in{.cuda_backend = cuda.usable,
                         .cuda_reason = cuda.usable ? "" : "no usable CUDA device: " + cuda.error,
                         .interop_built = true,
                         .cuda_uuid = cuda.uuid,
                         .vulkan = devs,
                         .interop = interop};
  const app::DataPathChoice c = app::choose_data_path(in);  // `on` + a missing requirement throws
  if (c.path != app::DataPath::Interop) {
    if (why) *why = c.line;
    return nullptr;
  }
  try {
    return std::make_unique<Impl>(cuda, validation);
  } catch (const Error& e) {
    if (interop == "on") throw;
    if (why) *why = std::string("interop failed, using staging: ") + e.what();
    return nullptr;
  }
}

}  // namespace netlens::cli
