// The zero-copy path end to end on a machine with a CUDA device and an interop-capable Vulkan device
// (skipped elsewhere, saying why): live::make_interop_path (registered by netlens_interop), the CUDA
// session made, prepared and first run on a live::InferenceThread (one shared arena), the live
// pipeline on that thread with the interop uploader, results shown by an app::View on the interop
// context. Checks, per input: the frame equals a frame drawn from a host scene of the same session's
// activations (CodeBuilder is bit-exact with build_scene); the only host copy per result is the
// selected layer (the uploader's report), a pick elsewhere reads one value equal to the session's;
// the arena count stays 1; the timeline's jumps stay within maxTimelineSemaphoreValueDifference.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>

#include "netlens/app/view.hpp"
#include "netlens/cpu.hpp"
#include "netlens/cuda.hpp"
#include "netlens/live/inference_thread.hpp"
#include "netlens/live/pipeline.hpp"
#include "netlens/live/uploader.hpp"
#include "netlens/onnx.hpp"
#include "netlens/render/context.hpp"
#include "netlens/render/renderer.hpp"

using namespace netlens;

namespace {

media::Frame noise_frame(int k, int w, int h) {
  media::Frame f;
  f.width = w, f.height = h, f.index = k, f.name = "noise" + std::to_string(k);
  f.rgb.resize(static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
  std::mt19937 rng(static_cast<uint32_t>(k + 1));
  for (auto& b : f.rgb) b = static_cast<uint8_t>(rng() & 0xff);
  return f;
}

TEST(InteropView, ViewShowsCudaResultsWithoutHostCopies) {
  const CudaDeviceInfo cuda = cuda_device_info(0);
  if (!cuda.usable) GTEST_SKIP() << "no usable CUDA device: " << cuda.error;
  std::string why;
  std::unique_ptr<live::InteropPath> li = live::make_interop_path("auto", false, &why);
  // A GPU machine must do interop, or the test says why it cannot (a failure, not a skip).
  ASSERT_TRUE(li) << why;
  const char* dir = std::getenv("NETLENS_MODEL_DIR");
  const std::string model = (dir ? std::string(dir) : std::string(NETLENS_CACHE_DIR) + "/models") + "/ppocr_cls.onnx";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << model << " missing (scripts/fetch-models.sh)";
  ImagePreprocess pp;
  pp.width = 192, pp.height = 48;
  int arenas = 0;
  auto inner = li->arena_allocator();
  SessionOptions so;
  so.arena_allocator = [&](Backend& b, size_t n) { ++arenas; return inner(b, n); };
  std::unique_ptr<Backend> gpu = make_cuda_backend(0), cpu = make_cpu_backend();
  live::InferenceThread worker;
  std::unique_ptr<Session> s = worker.call([&] {
    auto ss = std::make_unique<Session>(load_onnx(model), std::vector<Backend*>{gpu.get(), cpu.get()}, so);
    ss->prepare({{"x", Shape{1, 3, 48, 192}}});
    ss->run({{"x", media::frame_to_tensor(noise_frame(0, 192, 48), pp)}});
    return ss;
  });
  li->attach(*gpu);
  struct Release {
    live::InteropPath* l;
    ~Release() { l->release(); }
  } release{li.get()};
  app::View v(li->context(), *s, app::FrameSpec{.width = 480, .height = 270});
  const int sel = static_cast<int>(v.scene().layout.layers.size() / 2);
  v.select(sel, 0);
  live::LiveConfig cfg{.input_name = "x", .pp = pp, .layout = v.scene().layout, .uploader = &li->uploader()};
  live::LivePipeline pipe(*s, cfg, worker);
  for (int k = 1; k <= 4; ++k) {
    pipe.submit(noise_frame(k, 192, 48));
    auto r = pipe.wait_result(60.0);
    ASSERT_TRUE(r) << pipe.error().value_or("no result");
    li->uploader().apply(*r, v);
    v.renderer().render(v.initial_camera());
    const std::vector<uint8_t> shown = v.renderer().rgba();
    // The reference: the same activations as a host scene (D2H here, in the test only).
    viz::Scene host;
    pipe.with_session([&](const Session& ss) {
      host = viz::build_scene(v.scene().layout, [&](const std::string& n) { return ss.activations().fetch(n); });
    });
    render::Renderer ref(li->context(), host, v.renderer().options());  // same title, legend, size
    ref.set_selection(v.selection());
    ref.render(v.initial_camera());
    size_t differ = 0;
    for (size_t i = 0; i + 3 < shown.size(); i += 4)
      differ += shown[i] != ref.rgba()[i] || shown[i + 1] != ref.rgba()[i + 1] || shown[i + 2] != ref.rgba()[i + 2];
    EXPECT_EQ(differ, 0u) << "input " << k;
    EXPECT_EQ(v.scene().layers[static_cast<size_t>(sel)].values, host.layers[static_cast<size_t>(sel)].values) << "input " << k;
    // A pick off the selected layer: one value read back, equal to the host scene's.
    for (int y = 0; y < 270; y += 13)
      for (int x = 0; x < 480; x += 13)
        if (auto id = v.renderer().id_at(x, y); id.first != 0 && static_cast<int>(id.first) - 1 != sel) {
          auto p = v.renderer().pick(x, y);
          ASSERT_TRUE(p);
          EXPECT_EQ(p->value, host.value(p->layer, p->flat));
          y = 270;
          break;
        }
    pipe.shown(r->id);
  }
  EXPECT_EQ(arenas, 1) << "the session was prepared more than once";
  const std::string report = li->uploader().report();
  std::printf("%s; view read %llu bytes on demand\n", report.c_str(), static_cast<unsigned long long>(v.host_read_bytes()));
  // The first result was captured before the view asked for the selected layer (the view read it on
  // demand); the three after it carried that layer and nothing else.
  const double sel_bytes = double(v.scene().layout.layers[static_cast<size_t>(sel)].dims.count) * sizeof(float);
  unsigned long long results = 0;
  double kib = -1.0;
  ASSERT_EQ(std::sscanf(report.c_str(), "interop: %llu results, %lf KiB", &results, &kib), 2) << report;
  EXPECT_EQ(results, 4u);
  EXPECT_NEAR(kib * 1024.0, sel_bytes * 3.0 / 4.0, 0.06 * 1024.0) << "per result, only the selected layer reaches the host";
  EXPECT_LE(double(v.host_read_bytes()), sel_bytes + 4.0 * sizeof(float)) << "on demand: the selected layer once, one value per pick";
  EXPECT_EQ(li->context().validation_error_count(), 0u);
}

}  // namespace
