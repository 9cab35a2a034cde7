// The interop data path (see live_uploader.hpp): the uploader half runs on the inference thread
// (capture: signal, copy back only the layers the view asked for, wait) and the render thread
// (apply: codes on the GPU). Registers itself with live (live::make_interop_path) at start-up.
#include "netlens/interop/live_uploader.hpp"

#include <cinttypes>
#include <cstdint>
#include <cstdio>
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
// arena it wrote, where each shown tensor sits in it, and the host values of the layers the view
// asked for (live::ResultSink::host_layers; the others stay on the GPU).
struct Payload {
  uint64_t done = 0;
  std::shared_ptr<SharedBuffer> arena;
  std::vector<uint64_t> offsets;
  std::map<int, std::vector<float>> host;
  uint64_t host_bytes = 0;
};

// maxTimelineSemaphoreValueDifference of the context's device (at least 2^31 - 1 by the spec).
uint64_t max_timeline_step(render::Context& ctx) {
  VkPhysicalDeviceVulkan12Properties p12{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES};
  VkPhysicalDeviceProperties2 p2{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &p12};
  vkGetPhysicalDeviceProperties2(ctx.physical(), &p2);
  return p12.maxTimelineSemaphoreValueDifference ? p12.maxTimelineSemaphoreValueDifference : (uint64_t{1} << 31) - 1;
}

class Uploader final : public live::ResultUploader {
 public:
  Uploader(render::Context& ctx, std::vector<std::shared_ptr<SharedBuffer>>& arenas)
      : ctx_(ctx), arenas_(arenas), timeline_(ctx), max_step_(max_timeline_step(ctx)) {}
  ~Uploader() override { release(); }
  // A run's stream may still wait for a "consumed" that will never come (an error on the render
  // thread): release every wait, so that the CUDA backend's stream can drain when it is destroyed.
  void release() {
    if (released_) return;
    released_ = true;
    // The highest value a queued CUDA wait can need is the last run's "consumed" (its done + 1).
    // Signalling exactly that, in steps of at most maxTimelineSemaphoreValueDifference from the
    // counter (UINT64_MAX / 2 broke that limit), releases them all; a value not above the counter is
    // no signal.
    uint64_t target = 0;
    {
      std::lock_guard<std::mutex> lk(m_);
      target = next_ + 1;
    }
    for (uint64_t v = timeline_.vk().value(); v < target;) {
      v = target - v > max_step_ ? v + max_step_ : target;
      timeline_.vk().signal(v);
    }
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
    std::vector<int> wanted;
    {
      std::lock_guard<std::mutex> lk(m_);
      p->done = next_ += 2;  // run N done = 2N, its codes consumed = 2N + 1 (strictly increasing)
      wanted = wanted_;
    }
    // Every value this run signals or waits for stays within maxTimelineSemaphoreValueDifference of
    // the counter: a render side that fell that far behind is an error, not a silent wrap.
    const uint64_t now = timeline_.vk().value();
    if (p->done + 1 > now && p->done + 1 - now > max_step_)
      throw Error(ErrorKind::Device, "interop: the timeline semaphore would move " + std::to_string(p->done + 1 - now) +
                                         " past its value, over the device's maxTimelineSemaphoreValueDifference " +
                                         std::to_string(max_step_));
    // One arena per session: the session is prepared once, on the inference thread.
    if (arenas_.size() != 1) throw Error(ErrorKind::Internal, "interop uploader: " + std::to_string(arenas_.size()) + " arenas for one session");
    p->arena = arenas_.front();
    p->offsets = viz::arena_offsets(layout, s.planned(), /*backend=*/0);
    timeline_.cuda_signal(stream_, p->done);
    // Host values only of the layers the view shows in 2D (the selected neuron's, the panels' layer):
    // copied before the wait below (a copy queued after it would wait for the render thread, which
    // waits for this result). Everything else never leaves the GPU.
    for (int l : wanted) {
      if (l < 0 || static_cast<size_t>(l) >= layout.layers.size()) continue;
      const viz::LayerVolume& lv = layout.layers[static_cast<size_t>(l)];
      Tensor t = viz::value_fetch(s, viz::ValueMode::Activation)(lv.tensor.name);
      p->host_bytes += t.nbytes();
      if (t.dtype() != DType::Float32) t = t.cast(DType::Float32);
      std::vector<float> v(t.data_as<float>(), t.data_as<float>() + std::min<int64_t>(t.numel(), lv.dims.count));
      v.resize(static_cast<size_t>(lv.dims.count), 0.0f);
      p->host.emplace(l, std::move(v));
    }
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
    auto scales = sink.renderer().update_values_from_device(sink.scene(), *builder_, p->arena->buffer(), &wait, &signal, &st);
    sink.show_device_values(std::move(scales), std::move(p->host));
    std::lock_guard<std::mutex> lk(m_);
    wanted_ = sink.host_layers();
    ++applied_;
    host_bytes_ += p->host_bytes;
    return st.total_ms;
  }

  std::string report() const override {
    std::lock_guard<std::mutex> lk(m_);
    char b[160];
    std::snprintf(b, sizeof b, "interop: %" PRIu64 " results, %.1f KiB copied to the host per result (the layers shown in 2D only)",
                  applied_, applied_ ? double(host_bytes_) / 1024.0 / double(applied_) : 0.0);
    return b;
  }

 private:
  render::Context& ctx_;
  std::vector<std::shared_ptr<SharedBuffer>>& arenas_;
  SharedTimeline timeline_;
  Backend* cuda_ = nullptr;
  bool released_ = false;
  void* stream_ = nullptr;
  const uint64_t max_step_;
  mutable std::mutex m_;
  uint64_t next_ = 0;
  std::vector<int> wanted_;  // ResultSink::host_layers of the last apply
  uint64_t applied_ = 0, host_bytes_ = 0;
  std::unique_ptr<render::CodeBuilder> builder_;
  const SharedBuffer* builder_arena_ = nullptr;
  std::vector<uint64_t> offsets_;
};

class Impl final : public live::InteropPath {
 public:
  Impl(const CudaDeviceInfo& cuda, bool validation, const render::ContextOptions* base)
      : ctx_(options(cuda, validation, base)), up_(ctx_, arenas_) {}
  render::Context& context() override { return ctx_; }
  std::function<DeviceBuffer(Backend&, size_t)> arena_allocator() override {
    return shared_arena_allocator(ctx_, 0, &arenas_);
  }
  void attach(Backend& cuda) override { up_.attach(cuda); }
  void release() override { up_.release(); }

 private:
  static render::ContextOptions options(const CudaDeviceInfo& cuda, bool validation, const render::ContextOptions* base) {
    render::ContextOptions o = base ? *base : render::ContextOptions{};
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
                                                     std::string* why, const render::ContextOptions* base) {
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
    return std::make_unique<Impl>(cuda, validation, base);
  } catch (const Error& e) {
    if (interop == "on") throw;
    if (why) *why = std::string("interop failed, using staging: ") + e.what();
    return nullptr;
  }
}

namespace {
// live::make_interop_path's factory: the CUDA device the backend uses (device 0, as the CLI's
// --backend cuda makes it), registered at start-up (a static registrar: the executable links
// netlens_interop whole).
std::unique_ptr<live::InteropPath> make_for_live(const std::string& interop, bool validation, std::string* why,
                                                 const render::ContextOptions* base) {
  return make_interop_path(cuda_device_info(0), interop, validation, why, base);
}
[[maybe_unused]] const bool kRegistered = (live::register_interop_path(&make_for_live), true);
}  // namespace

}  // namespace netlens::interop
