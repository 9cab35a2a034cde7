// app::View as the zero-copy interop path's sink (live::ResultSink::show_device_values), on lavapipe
// with the CPU backend standing in for CUDA: after a device result the view keeps host values only for
// the layers it shows in 2D (the selected neuron's; the panels' layer), reads a newly selected layer
// from the session (that tensor only), and answers a pick on any other layer with the one value read
// back (live::read_value). References: the session's own activations (ActivationStore::fetch), exact.
// The GPU half (codes made from the CUDA arena) runs in tests/interop's CUDA tests and
// scripts/gpu-check.sh.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <vector>

#include "netlens/app/view.hpp"
#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/live/uploader.hpp"
#include "netlens/onnx.hpp"
#include "netlens/render/context.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/ui/panels.hpp"

using namespace netlens;

namespace {

render::Context& zc_context() {
  static render::Context ctx(render::ContextOptions{.validation = !std::getenv("NETLENS_TEST_NO_VALIDATION"), .quiet = false});
  return ctx;
}

TEST(ViewZeroCopy, DeviceResultKeepsOnlyTheShownLayersOnTheHost) {
  const auto model = std::filesystem::path(NETLENS_CACHE_DIR) / "models" / "ppocr_cls.onnx";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << model << " missing (scripts/fetch-models.sh)";
  auto cpu = make_cpu_backend();
  ImagePreprocess pp{.width = 192, .height = 48, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}, .bgr = true};
  Tensor x = load_image((std::filesystem::path(NETLENS_SAMPLES_DIR) / "line_192x48.png").string(), pp);
  Session s(load_onnx(model.string()), {cpu.get()});
  s.run({{"x", x}});
  app::View v(zc_context(), s, app::FrameSpec{.width = 480, .height = 270});
  const viz::Layout& L = v.scene().layout;
  ASSERT_GE(L.layers.size(), 6u);
  auto session_values = [&](int layer) {
    Tensor t = s.activations().fetch(L.layers[static_cast<size_t>(layer)].tensor.name).cast(DType::Float32);
    return std::vector<float>(t.data_as<float>(), t.data_as<float>() + L.layers[static_cast<size_t>(layer)].dims.count);
  };
  EXPECT_TRUE(v.host_layers().empty());
  const int sel = static_cast<int>(L.layers.size() / 2);
  v.select(sel, 3);
  EXPECT_EQ(v.host_layers(), std::vector<int>{sel});

  // A device result that carried nothing (captured before the selection): the scales are the GPU's,
  // the selected layer is read from the session, every other layer's host values are dropped.
  std::vector<viz::ColorScale> scales;
  for (const auto& l : v.scene().layers) scales.push_back(l.scale);
  scales[0].hi *= 2.0f;  // a scale the GPU chose
  const uint64_t before = v.host_read_bytes();
  v.show_device_values(scales, {});
  EXPECT_EQ(v.scene().layers[0].scale.hi, scales[0].hi);
  for (int i = 0; i < static_cast<int>(L.layers.size()); ++i) EXPECT_EQ(v.scene().has_values(i), i == sel) << i;
  EXPECT_EQ(v.scene().layers[static_cast<size_t>(sel)].values, session_values(sel));
  const uint64_t sel_bytes = static_cast<uint64_t>(L.layers[static_cast<size_t>(sel)].dims.count) * sizeof(float);
  EXPECT_EQ(v.host_read_bytes() - before, sel_bytes) << "only the selected tensor is copied back";

  // A result that carries the selected layer: nothing is read on demand.
  std::map<int, std::vector<float>> carried{{sel, session_values(sel)}};
  const uint64_t before2 = v.host_read_bytes();
  v.show_device_values(scales, carried);
  EXPECT_EQ(v.host_read_bytes(), before2);

  // Picks on layers without host values read their one value (4 bytes each), equal to the session's.
  v.renderer().render(v.initial_camera());
  int picks = 0, reads = 0;
  std::map<int, std::vector<float>> ref;
  for (int y = 0; y < 270 && picks < 40; y += 9)
    for (int x = 0; x < 480 && picks < 40; x += 9) {
      auto id = v.renderer().id_at(x, y);
      if (id.first == 0 || static_cast<int>(id.first) - 1 == sel) continue;
      const uint64_t b0 = v.host_read_bytes();
      auto p = v.renderer().pick(x, y);
      ASSERT_TRUE(p);
      if (!ref.count(p->layer)) ref[p->layer] = session_values(p->layer);
      EXPECT_EQ(p->value, ref[p->layer][static_cast<size_t>(p->flat)]) << p->tensor << " " << p->flat;
      // One value read back, or none when the same neuron was just read (the window's per-frame probe).
      EXPECT_LE(v.host_read_bytes() - b0, sizeof(float));
      reads += v.host_read_bytes() - b0 == sizeof(float);
      ++picks;
    }
  EXPECT_GT(picks, 5);
  EXPECT_GT(reads, 1);
  // live::read_value itself: float32 on the host backend, any element; out of range is nullopt.
  const std::string name = L.layers[0].tensor.name;
  EXPECT_EQ(live::read_value(s, name, 5), session_values(0)[5]);
  EXPECT_FALSE(live::read_value(s, name, L.layers[0].dims.count * 1000));
  EXPECT_FALSE(live::read_value(s, "no such tensor", 0));
}

// With panels and a locking SessionAccess (as the live pipeline gives the viewer): the panels' layer
// is read while the panels' draw holds the session (no second lock: a deadlock would hang here and
// fail by the test timeout), and only that layer and the selection's reach the host.
TEST(ViewZeroCopy, PanelsLayerIsReadUnderTheDrawsLock) {
  const auto model = std::filesystem::path(NETLENS_CACHE_DIR) / "models" / "ppocr_cls.onnx";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << model << " missing (scripts/fetch-models.sh)";
  auto cpu = make_cpu_backend();
  ImagePreprocess pp{.width = 192, .height = 48, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}, .bgr = true};
  Tensor x = load_image((std::filesystem::path(NETLENS_SAMPLES_DIR) / "line_192x48.png").string(), pp);
  Session s(load_onnx(model.string()), {cpu.get()});
  s.run({{"x", x}});
  std::mutex m;  // not recursive, like LivePipeline's session mutex
  app::SessionAccess access = [&](const std::function<void(const Session&)>& fn) {
    std::lock_guard<std::mutex> lk(m);
    fn(s);
  };
  app::View v(zc_context(), s, app::FrameSpec{.width = 960, .height = 540}, access);
  const int focus = 2;
  v.open_panels(app::PanelSpec{}, focus);
  v.settle_panels();
  EXPECT_EQ(v.host_layers(), std::vector<int>{focus});
  std::vector<viz::ColorScale> scales;
  for (const auto& l : v.scene().layers) scales.push_back(l.scale);
  v.show_device_values(scales, {});  // read now through the access (not held here)
  EXPECT_TRUE(v.scene().has_values(focus));
  for (int i = 0; i < static_cast<int>(v.scene().layers.size()); ++i) {
    if (i != focus) {
      EXPECT_FALSE(v.scene().has_values(i)) << i;
    }
  }
  // The panels move to another layer (a model-tree click): read in the next frame's panels, under
  // the draw's lock.
  const int focus2 = 4;
  v.panels()->set_focus(focus2);
  EXPECT_FALSE(v.scene().has_values(focus2));
  auto when_readable = [&](const std::function<void()>& draw) {
    std::unique_lock<std::mutex> lk(m, std::try_to_lock);
    if (!lk.owns_lock()) return false;
    draw();
    return true;
  };
  v.draw_panels(true, when_readable);
  EXPECT_TRUE(v.scene().has_values(focus2));
  EXPECT_EQ(v.scene().layers[focus2].values.size(), static_cast<size_t>(v.scene().layout.layers[focus2].dims.count));
}

}  // namespace
