// The interop data path (see live_uploader.hpp): the uploader half runs on the inference thread
// (capture: signal, read the host values, wait) and the render thread (apply: codes on the GPU).
#include "netlens/interop/live_uploader.hpp"

#include <cstdint>
#include <mutex>

#include "netlens/render/code_builder.hpp"
#include "netlens/live/data_path.hpp"
#include "netlens/interop/interop.hpp"
#include "netlens/live/pipeline.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/values.hpp"

namespace netlens::interop {
namespace {

// What a run hands to the render thread: the timeline value CUDA signals when the run is done, the
// arena it wrote, where each shown tensor sits in it, and (filled after the signal) the host values.
struct Payload {
  uint64_t done = 0;
  std::shared_ptr<SharedBuffer> arena;
  std::vector<uint64_t> offsets;
  std::vector<std::vector<float>> values;
};

class Uploader final : public live::ResultUploader {
 public:
  Uploader(render::Context& ctx, std::vector<std::shared_ptr<SharedBuffer>>& arenas)
      : ctx_(ctx), arenas_(arenas), timeline_(ctx) {}
  ~Uploader() override { release(); }
  // A run's stream may still wait for a "consumed" that will never come (an error on the render
  // thread): release every wait, so that the CUDA backend's stream can drain when it is destroyed.
  void release() {
    if (released_) return;
    released_ = true;
    // The highest value a queued CUDA wait can need is the last run's "consumed" (its done + 1).
    // Signalling exactly that keeps the jump within maxTimelineSemaphoreValueDifference (at least
    // 2^31 - 1 by the spec; UINT64_MAX / 2 broke it), and a value not above the counter is no signal.
    uint64_t target = 0;
    {
      std::lock_guard<std::mutex> lk(m_);
      target = next_ + 1;
    }
    if (timeline_.vk().value() < target) timeline_.vk().signal(target);
  }
  void attach(Backend& cuda) {
    cuda_ = &cuda;
    stream_ = cuda_backend_stream(cuda);
  }
  std::string name() const override { return "CUDA-Vulkan interop (zero-copy)"; }

  // Inference thread, right after Session::run.
  void capture(const Session& s, const viz::Layout& layout, live::LiveResult& r) override {
    if (!stream_ || arenas_.empty()) throw Error(ErrorKind::Internal, "interop uploader: no CUDA arena attached");
    auto p = std::make_shared<Payload>();
    {
      std::lock_guard<std::mutex> lk(m_);
      p->done = next_ += 2;  // run N done = 2N, its codes consumed = 2N + 1 (strictly increasing)
    }
    p->arena = arenas_.back();  // a re-prepared session (the pipeline's own thread) allocates anew
    p->offsets = viz::arena_offsets(layout, s.planned(), /*backend=*/0);
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
  double apply(live::LiveResult& r, live::ResultSink& sink) override {
    auto p = std::static_pointer_cast<Payload>(r.payload);
    if (!p) throw Error(ErrorKind::Internal, "interop uploader: a result without its payload");
    // The codes are made on the GPU for the layout the run was captured with: a view showing other
    // layers (collapsed groups) cannot take them.
    if (sink.layout().layers.size() != p->offsets.size())
      throw Error(ErrorKind::Unsupported, "collapsed groups are not shown on the CUDA-Vulkan interop path; use --interop off");
    if (!builder_ || builder_arena_ != p->arena.get() || offsets_ != p->offsets) {
      builder_ = std::make_unique<render::CodeBuilder>(ctx_, sink.layout(), p->offsets, p->arena->size());
      builder_arena_ = p->arena.get();
      offsets_ = p->offsets;
    }
    render::Renderer::TimelinePoint wait{timeline_.semaphore(), p->done}, signal{timeline_.semaphore(), p->done + 1};
    render::UploadStats st;
    auto scales = sink.renderer().codes_from_device(*builder_, p->arena->buffer(), &wait, &signal, &st);
    sink.show_device_values(std::move(scales), std::move(p->values));
    return st.total_ms;
  }

 private:
  render::Context& ctx_;
  std::vector<std::shared_ptr<SharedBuffer>>& arenas_;
  SharedTimeline timeline_;
  Backend* cuda_ = nullptr;
  bool released_ = false;
  void* stream_ = nullptr;
  std::mutex m_;
  uint64_t next_ = 0;
  std::unique_ptr<render::CodeBuilder> builder_;
  const SharedBuffer* builder_arena_ = nullptr;
  std::vector<uint64_t> offsets_;
};

class Impl final : public live::InteropPath {
 public:
  Impl(const CudaDeviceInfo& cuda, bool validation) : ctx_(options(cuda, validation)), up_(ctx_, arenas_) {}
  render::Context& context() override { return ctx_; }
  std::function<DeviceBuffer(Backend&, size_t)> arena_allocator() override {
    return shared_arena_allocator(ctx_, 0, &arenas_);
  }
  void attach(Backend& cuda) override { up_.attach(cuda); }
  void release() override { up_.release(); }

 private:
  static render::ContextOptions options(const CudaDeviceInfo& cuda, bool validation) {
    render::ContextOptions o;
    if (validation) o.validation = true;
    return interop_context_options(cuda, o);
  }
  live::ResultUploader& uploader() override { return up_; }

  render::Context ctx_;
  std::vector<std::shared_ptr<SharedBuffer>> arenas_;  // outlive the uploader's builder
  Uploader up_;
};

}  // namespace

std::unique_ptr<live::InteropPath> make_interop_path(const CudaDeviceInfo& cuda, const std::string& interop, bool validation,
                                                     std::string* why) {
  std::vector<render::DeviceInfo> devs;
  try {
    devs = render::list_devices();
  } catch (const Error&) {
  }
  live::DataPathInputs in{.cuda_backend = cuda.usable,
                         .cuda_reason = cuda.usable ? "" : "no usable CUDA device: " + cuda.error,
                         .interop_built = true,
                         .cuda_uuid = cuda.uuid,
                         .vulkan = devs,
                         .interop = interop};
  const live::DataPathChoice c = live::choose_data_path(in);  // `on` + a missing requirement throws
  if (c.path != live::DataPath::Interop) {
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

}  // namespace netlens::interop
