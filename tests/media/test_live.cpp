// Live input on lavapipe with validation on:
//  - Renderer::update_values gives the same pixels as a renderer made afresh with the new values
//    (several code chunks, labels and legend on), and refuses another layout;
//  - a real LivePipeline (model runs and scene builds on its thread, frames from a producer thread)
//    while the render thread applies results and draws and reads back every frame: every frame
//    shows one input entirely (each layer's pixels, found through the ID buffer, all of A or all of B);
//  - LivePipeline on a real model (PP-OCR cls): the newest input wins, drops are counted, the
//    published scene equals one built from a fresh run of that input, with_session sees whole runs;
//  - `netlens render --input DIR|VIDEO --out DIR/`: each output equals (pixel-exact) the
//    single-input render of the same decoded frame, and frames of different inputs differ.
// Longer than about 600 lines: the live cases share one Vulkan set-up and one model session helper,
// and each needs both.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "netlens/media/frame_source.hpp"
#include "stall_util.hpp"
#include "netlens/live/feeder.hpp"
#include "netlens/live/inference_thread.hpp"
#include "netlens/live/pipeline.hpp"
#include "netlens/live/uploader.hpp"
#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/scene.hpp"
#include "../vulkan_test_util.hpp"

using namespace netlens;
using namespace netlens::render;
namespace fs = std::filesystem;

namespace {

Context& context() { return test::vulkan_context(); }

class LiveTest : public test::VulkanValidatedTest {};

const std::vector<Shape> kShapes = {{1, 3, 24, 32}, {1, 8, 12, 16}, {1, 16, 6, 8}, {1, 32}, {1, 10}};

size_t differing_pixels(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t n = 0;
  for (size_t i = 0; i + 3 < std::min(a.size(), b.size()); i += 4)
    if (std::memcmp(&a[i], &b[i], 3) != 0) ++n;
  return n + (a.size() != b.size() ? 1 : 0);
}

TEST_F(LiveTest, InPlaceUpdateEqualsFreshRenderer) {
  viz::Scene a = viz::synthetic_scene(kShapes, 1), b = viz::synthetic_scene(kShapes, 7);
  // Small buffers: several code chunks, so the update crosses chunk boundaries.
  RenderOptions ro{.width = 400, .height = 240, .title = "live", .max_buffer_bytes = 4096};
  const viz::Camera cam = viz::overview_camera(a.layout, 400.0f / 240.0f);
  viz::Scene shown = a;
  Renderer r(context(), shown, ro);
  ASSERT_GT(r.code_buffers(), 1);
  r.render(cam);
  const std::vector<uint8_t> img_a = r.rgba();
  shown = b;
  const UploadStats us = r.update_values(shown);
  EXPECT_GT(us.bytes, 0u);
  r.render(cam);
  const std::vector<uint8_t> img_updated = r.rgba();
  Renderer fresh(context(), b, ro);
  fresh.render(cam);
  EXPECT_EQ(differing_pixels(img_updated, fresh.rgba()), 0u);
  EXPECT_GT(differing_pixels(img_updated, img_a), 1000u);  // the values did change the picture
  // Picking reads the new values.
  for (int y = 0; y < 240; y += 7)
    for (int x = 0; x < 400; x += 7)
      if (auto p = r.pick(x, y)) {
        EXPECT_EQ(p->value, b.value(p->layer, p->flat));
      }
  // And back: the update is not a one-way door.
  shown = a;
  r.update_values(shown);
  r.render(cam);
  EXPECT_EQ(differing_pixels(r.rgba(), img_a), 0u);
  // Another layout is refused.
  shown = viz::synthetic_scene({{1, 3, 24, 32}, {1, 8, 12, 16}}, 1);
  EXPECT_THROW(r.update_values(shown), Error);
  shown = a;  // the renderer must not be destroyed holding a scene it was not sized for
}

// Upload time of an in-place update for a VGG-like scene of ~4M activations (printed, not asserted).
// update_values(next) takes the values of the scene it is given (another object than the one the
// renderer was made with) and draws, picks and labels from it from then on; a value reader answers
// picks for layers whose host values the borrowed scene lacks (the zero-copy path's picks).
TEST_F(LiveTest, UpdateValuesBorrowsTheSceneItIsGiven) {
  const viz::Scene a = viz::synthetic_scene(kShapes, 1), b = viz::synthetic_scene(kShapes, 5);
  RenderOptions ro{.width = 400, .height = 240, .title = "live"};
  const viz::Camera cam = viz::overview_camera(a.layout, 400.0f / 240.0f);
  Renderer r(context(), a, ro);
  r.update_values(b);  // a different object: the renderer now borrows b
  r.render(cam);
  Renderer fresh(context(), b, ro);
  fresh.render(cam);
  EXPECT_EQ(differing_pixels(r.rgba(), fresh.rgba()), 0u);
  int picked = 0, asked = 0;
  for (int y = 0; y < 240; y += 5)
    for (int x = 0; x < 400; x += 5)
      if (auto p = r.pick(x, y)) {
        EXPECT_EQ(p->value, b.value(p->layer, p->flat));
        ++picked;
      }
  ASSERT_GT(picked, 20);
  // Layer 0's values "stay on the device": the reader answers for it, nullopt sends the rest to b.
  r.set_value_reader([&](int layer, int64_t flat) -> std::optional<float> {
    if (layer != 0) return std::nullopt;
    ++asked;
    return -1000.0f - float(flat);
  });
  for (int y = 0; y < 240; y += 5)
    for (int x = 0; x < 400; x += 5)
      if (auto p = r.pick(x, y)) {
        EXPECT_EQ(p->value, p->layer == 0 ? -1000.0f - float(p->flat) : b.value(p->layer, p->flat));
      }
  EXPECT_GT(asked, 0) << "no pick landed on layer 0";
  // A refused update (another layout) leaves the renderer on the scene it had.
  const viz::Scene other = viz::synthetic_scene({{1, 3, 24, 32}, {1, 8, 12, 16}}, 1);
  EXPECT_THROW(r.update_values(other), Error);
  r.set_value_reader({});
  r.render(cam);
  EXPECT_EQ(differing_pixels(r.rgba(), fresh.rgba()), 0u);
}

TEST_F(LiveTest, UploadTimeIsReported) {
  viz::Scene s = viz::synthetic_scene(viz::synthetic_vgg_shapes(4'000'000), 3);
  viz::Scene shown = s;
  Renderer r(context(), shown, RenderOptions{.width = 320, .height = 200});
  UploadStats best;
  for (int i = 0; i < 3; ++i) {
    UploadStats u = r.update_values(shown);
    if (i == 0 || u.total_ms < best.total_ms) best = u;
  }
  std::printf("in-place update of %lld activations (%.1f MiB of codes) on %s: pack %.2f ms, copy %.2f ms, total %.2f ms\n",
              static_cast<long long>(s.neurons()), double(best.bytes) / (1 << 20), context().device_name().c_str(),
              best.pack_ms, best.copy_ms, best.total_ms);
  EXPECT_GT(best.bytes, static_cast<uint64_t>(s.neurons()));  // level 0 and both pyramids
}

// A small model where input A (a black frame) makes every activation exactly 0 (the zero colour)
// and inputs B (random pixels in [128, 255]) make every activation positive (colour-map colours, all
// distinct from the zero colour): x → Relu → MaxPool → Mul 2 → GlobalAveragePool → Flatten.
Graph sign_model() {
  Graph g;
  g.opsets[""] = 17;
  auto vi = [](const std::string& name, const Shape& dims) {
    ValueInfo v{name, DType::Float32, {}, true};
    for (int64_t d : dims) v.dims.push_back(Dim{d, ""});
    return v;
  };
  auto node = [&](const std::string& op, std::vector<std::string> in, const std::string& out,
                  std::map<std::string, AttrValue> attrs = {}) {
    Node n;
    n.op_type = op;
    n.name = op + "_" + out;
    n.inputs = std::move(in);
    n.outputs = {out};
    n.attrs = std::move(attrs);
    g.nodes.push_back(std::move(n));
  };
  g.inputs.push_back(vi("x", {1, 3, 24, 32}));
  g.initializers["two"] = Tensor::scalar_f32(2.0f);
  node("Relu", {"x"}, "relu");
  node("MaxPool", {"relu"}, "pool",
       {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}});
  node("Mul", {"pool", "two"}, "twice");
  node("GlobalAveragePool", {"twice"}, "gap");
  node("Flatten", {"gap"}, "y");
  g.outputs.push_back(vi("y", {1, 3}));
  return g;
}

// The real pipeline on real threads: a producer thread submits A and B frames alternately as fast
// as it can, the pipeline's thread runs the model and builds each result's scene, and the render
// thread (here) takes results at frame starts, applies them (staging upload) and draws and reads
// back every frame while the next runs are in flight. Every frame must show one input entirely:
// each layer's pixels (found through the ID buffer) all zero colour (A) or none (B), every layer
// the same input, and that input the one of the result applied last.
TEST_F(LiveTest, SwitchNeverShowsMixedActivations) {
  auto backend = make_cpu_backend();
  Session s(sign_model(), {backend.get()});
  ImagePreprocess pp;
  pp.width = 32, pp.height = 24;  // the frames' own size: no resampling
  pp.mean = {0.0f, 0.0f, 0.0f};
  pp.std = {1.0f, 1.0f, 1.0f};
  auto frame = [](int64_t k) {
    media::Frame f{.width = 32, .height = 24, .rgb = std::vector<uint8_t>(32 * 24 * 3, 0), .index = k,
                   .name = "input " + std::to_string(k)};
    if (k % 2) {  // B: odd indices
      std::mt19937 rng(static_cast<uint32_t>(k));
      std::uniform_int_distribution<int> u(128, 255);
      for (uint8_t& p : f.rgb) p = static_cast<uint8_t>(u(rng));
    }
    return f;
  };
  s.run({{"x", media::frame_to_tensor(frame(0), pp)}});
  live::LiveConfig cfg{.input_name = "x", .pp = pp, .layout = live::live_layout(s)};
  const viz::Layout layout = cfg.layout;
  ASSERT_GE(layout.layers.size(), 4u);
  live::StagingUploader up;
  cfg.uploader = &up;
  viz::Scene shown = viz::build_scene(layout, [&](const std::string& n) { return s.activations().fetch(n); });
  const int W = 360, H = 220;
  RenderOptions ro{.width = W, .height = H, .msaa = 1, .lighting = false, .grid_lines = false, .labels = false,
                   .legend = false, .connections = false, .selection_lines = false, .max_buffer_bytes = 4096};
  Renderer r(context(), shown, ro);
  const viz::Camera cam = viz::overview_camera(layout, float(W) / float(H));
  const glm::vec3 zero = viz::zero_color(viz::ColorMapKind::Sequential);
  auto is_zero_colour = [&](size_t i) {
    const auto& p = r.rgba();
    return std::abs(int(p[i]) - int(std::lround(zero.r * 255))) <= 2 &&
           std::abs(int(p[i + 1]) - int(std::lround(zero.g * 255))) <= 2 &&
           std::abs(int(p[i + 2]) - int(std::lround(zero.b * 255))) <= 2;
  };

  // The results' sink: the renderer's own scene object, updated the way app::View does it.
  struct Sink final : live::ResultSink {
    viz::Scene& shown;
    Renderer& r;
    Sink(viz::Scene& s, Renderer& rr) : shown(s), r(rr) {}
    const viz::Layout& layout() const override { return shown.layout; }
    const viz::Scene& scene() const override { return shown; }
    UploadStats show_scene(viz::Scene next) override {
      shown = std::move(next);
      return r.update_values(shown);
    }
    Renderer& renderer() override { return r; }
    void show_device_values(std::vector<viz::ColorScale>, std::map<int, std::vector<float>>) override {
      ADD_FAILURE() << "the staging uploader made device values";
    }
  } sink(shown, r);

  live::LivePipeline pipe(s, cfg);  // from here on only the pipeline's thread runs `s`
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    for (int64_t k = 1; !stop; ++k) {
      pipe.submit(frame(k));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  bool showing_b = false;  // result 0: input 0, A
  int frames_a = 0, frames_b = 0, switches = 0, mixed = 0;
  for (int frame_no = 0; frame_no < 200; ++frame_no) {
    if (auto res = pipe.take_result()) {
      up.apply(*res, sink);
      showing_b = res->input_index % 2;
      ++switches;
    }
    r.render(cam);
    // Per layer: pixels of that layer (ID buffer) in the zero colour vs any other colour.
    std::vector<std::array<int, 2>> counts(layout.layers.size(), {0, 0});
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        auto [layer1, flat] = r.id_at(x, y);
        if (layer1 == 0) continue;
        const size_t i = (static_cast<size_t>(y) * W + static_cast<size_t>(x)) * 4;
        ++counts[layer1 - 1][is_zero_colour(i) ? 0 : 1];
      }
    int layers_seen = 0;
    for (size_t l = 0; l < counts.size(); ++l) {
      if (counts[l][0] + counts[l][1] == 0) continue;
      ++layers_seen;
      // A layer of input A is all zero colour; of an input B, never. Any pixel of the other kind is
      // a layer (or part of one) from another input than the one applied: a mixed frame.
      if (counts[l][showing_b ? 0 : 1] != 0) ++mixed;
      EXPECT_EQ(counts[l][showing_b ? 0 : 1], 0) << "frame " << frame_no << " layer " << l << " shows "
                                                 << (showing_b ? "A" : "B") << " pixels while showing "
                                                 << (showing_b ? "B" : "A");
    }
    EXPECT_GE(layers_seen, 3) << "frame " << frame_no;
    (showing_b ? frames_b : frames_a)++;
    if (mixed > 5) break;  // enough evidence; keep the log short
  }
  stop = true;
  producer.join();
  EXPECT_FALSE(pipe.error()) << *pipe.error();
  EXPECT_GT(frames_a, 0);
  EXPECT_GT(frames_b, 0);
  EXPECT_GT(switches, 10);
  std::printf("concurrent live switching: %d frames (A %d, B %d), %d results applied, %llu runs, %llu dropped\n",
              frames_a + frames_b, frames_a, frames_b, switches, static_cast<unsigned long long>(pipe.stats().runs),
              static_cast<unsigned long long>(pipe.stats().dropped));
}

// ------------------------------------------------------------------------------------------------
const std::string kSamples = NETLENS_SAMPLES_DIR;
const std::string kModel = NETLENS_CLS_MODEL;
const char* kImages[3] = {"line_192x48.png", "line_192x48_flipped.png", "line_320x48.png"};

// Sample image k % 3 as the frame a folder source would deliver as input k ("input k").
media::Frame sample_frame(int k) {
  Rgb8Image im = load_image_rgb8(kSamples + "/" + kImages[k % 3]);
  return media::Frame{.width = im.width, .height = im.height, .rgb = std::move(im.pixels), .index = k,
                      .name = "input " + std::to_string(k)};
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("netlens_live_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(LivePipeline, NewestInputWinsAndMatchesAFreshRun) {
  if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " missing (scripts/fetch-models.sh)";
  auto backend = make_cpu_backend();
  Session s(load_onnx(kModel), {backend.get()});
  s.prepare({{"x", Shape{1, 3, 48, 192}}});
  ImagePreprocess pp;
  pp.width = 192, pp.height = 48;
  std::vector<media::Frame> frames;
  for (int k = 0; k < 12; ++k) frames.push_back(sample_frame(k));
  // The tensors a run may have seen: with_session must only ever observe one of these, whole.
  std::vector<Tensor> inputs;
  for (const auto& f : frames) inputs.push_back(media::frame_to_tensor(f, pp));
  s.run({{"x", inputs[0]}});
  live::LiveConfig cfg{.input_name = "x", .pp = pp, .layout = live::live_layout(s)};
  const viz::Layout layout = cfg.layout;
  live::LivePipeline pipe(s, cfg);
  for (const auto& f : frames) {
    pipe.submit(f);
    pipe.with_session([&](const Session& ss) {
      Tensor x = ss.activations().fetch("x");
      bool whole = false;
      for (const auto& t : inputs)
        whole = whole || std::memcmp(x.data(), t.data(), static_cast<size_t>(t.numel()) * sizeof(float)) == 0;
      EXPECT_TRUE(whole) << "with_session saw an input tensor that is none of the submitted ones";
    });
  }
  ASSERT_TRUE(pipe.wait_idle(120.0));
  auto res = pipe.take_result();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->input_index, 11);  // the last submission is never replaced
  const live::LiveStats st = pipe.stats();
  EXPECT_EQ(st.submitted, 12u);
  EXPECT_EQ(st.runs + st.dropped, 12u);
  EXPECT_EQ(res->id, st.runs);
  EXPECT_FALSE(pipe.error());
  // The published scene equals one built from a fresh session run on that input.
  auto backend2 = make_cpu_backend();
  Session fresh(load_onnx(kModel), {backend2.get()});
  fresh.run({{"x", inputs[11]}});
  viz::Scene ref = viz::build_scene(layout, [&](const std::string& n) { return fresh.activations().fetch(n); });
  ASSERT_EQ(ref.layers.size(), res->scene.layers.size());
  for (size_t l = 0; l < ref.layers.size(); ++l) EXPECT_EQ(ref.layers[l].values, res->scene.layers[l].values) << l;
  EXPECT_EQ(ref.codes0, res->scene.codes0);
  EXPECT_EQ(ref.codes_max, res->scene.codes_max);
}

// With wait_until_shown (the viewer's mode) the next run waits for shown(id): meanwhile the session
// is free for the render thread, the pending input is the newest (older ones dropped, counted), and
// no published result is replaced unseen.
TEST(LivePipeline, NextRunWaitsUntilTheResultIsShown) {
  if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " missing (scripts/fetch-models.sh)";
  auto backend = make_cpu_backend();
  Session s(load_onnx(kModel), {backend.get()});
  ImagePreprocess pp;
  pp.width = 192, pp.height = 48;
  s.run({{"x", media::frame_to_tensor(sample_frame(0), pp)}});
  live::LiveConfig cfg{.input_name = "x", .pp = pp, .layout = live::live_layout(s), .wait_until_shown = true};
  live::LivePipeline pipe(s, cfg);
  pipe.submit(sample_frame(1));
  auto r1 = pipe.wait_result(120.0);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->input_index, 1);
  pipe.submit(sample_frame(2));
  pipe.submit(sample_frame(3));  // replaces 2: the pipeline is waiting for shown(1)
  EXPECT_TRUE(pipe.busy());
  bool got = false;
  EXPECT_TRUE(pipe.try_with_session([&](const Session& ss) {
    // The session still holds input 1's run: its input tensor is frame 1's.
    Tensor x = ss.activations().fetch("x"), want = media::frame_to_tensor(sample_frame(1), pp);
    got = std::memcmp(x.data(), want.data(), static_cast<size_t>(want.numel()) * sizeof(float)) == 0;
  }));
  EXPECT_TRUE(got);
  EXPECT_FALSE(pipe.has_result());
  pipe.shown(r1->id);
  ASSERT_TRUE(pipe.wait_idle(120.0));
  auto r2 = pipe.take_result();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->input_index, 3);
  EXPECT_EQ(r2->id, r1->id + 1);
  EXPECT_EQ(pipe.stats().dropped, 1u);
}

// The viewer's panels read the session each frame through try_with_session, after the frame's
// take_result: they must see the activations of the result the 3D view shows. Here run 1 finished
// (published, not yet taken: the render thread's take_result came just before it) while result 0
// (the caller's run) is on screen: a panel read now must not see run 1's activations.
TEST(LivePipeline, PanelsReadTheRunOnScreen) {
  if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " missing (scripts/fetch-models.sh)";
  auto backend = make_cpu_backend();
  Session s(load_onnx(kModel), {backend.get()});
  ImagePreprocess pp;
  pp.width = 192, pp.height = 48;
  const Tensor x0 = media::frame_to_tensor(sample_frame(0), pp), x1 = media::frame_to_tensor(sample_frame(1), pp);
  ASSERT_NE(std::memcmp(x0.data(), x1.data(), static_cast<size_t>(x0.numel()) * sizeof(float)), 0);
  auto input_is = [](const Session& ss, const Tensor& want) {
    Tensor x = ss.activations().fetch("x");
    return std::memcmp(x.data(), want.data(), static_cast<size_t>(want.numel()) * sizeof(float)) == 0;
  };
  s.run({{"x", x0}});
  live::LiveConfig cfg{.input_name = "x", .pp = pp, .layout = live::live_layout(s), .wait_until_shown = true};
  live::LivePipeline pipe(s, cfg);
  // On screen: result 0 (the caller's run), drawn.
  pipe.shown(0);
  pipe.submit(sample_frame(1));
  ASSERT_TRUE(pipe.wait_idle(120.0));  // run 1 is done and published; the render thread has not taken it
  ASSERT_TRUE(pipe.has_result());
  bool read = false, saw_shown = false;
  pipe.try_with_session([&](const Session& ss) {
    read = true;
    saw_shown = input_is(ss, x0);
  });
  EXPECT_TRUE(!read || saw_shown) << "the panels read run 1's activations while result 0 is on screen";
  // The next frame takes result 1 (the 3D view switches to it): the panels read run 1 now.
  auto r1 = pipe.take_result();
  ASSERT_TRUE(r1);
  read = saw_shown = false;
  EXPECT_TRUE(pipe.try_with_session([&](const Session& ss) {
    read = true;
    saw_shown = input_is(ss, x1);
  }));
  EXPECT_TRUE(read && saw_shown);
}

// A run that fails (here every run: the frames are cast to int64 for a float input) must not leave
// the panels without the result on screen: the pipeline runs that result's input again, and the
// panels read it.
TEST(LivePipeline, PanelsStillReadTheRunOnScreenAfterAFailedRun) {
  if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " missing (scripts/fetch-models.sh)";
  auto backend = make_cpu_backend();
  Session s(load_onnx(kModel), {backend.get()});
  ImagePreprocess pp;
  pp.width = 192, pp.height = 48;
  Rgb8Image im = load_image_rgb8(kSamples + "/" + kImages[1]);
  const media::Frame f1{.width = im.width, .height = im.height, .rgb = im.pixels, .index = 1, .name = "input 1"};
  const Tensor x0 = load_image(kSamples + "/" + kImages[0], pp);
  s.run({{"x", x0}});
  live::LiveConfig cfg{.input_name = "x", .input_dtype = DType::Int64, .pp = pp, .layout = live::live_layout(s),
                      .wait_until_shown = true};
  live::LivePipeline pipe(s, cfg);
  pipe.shown(0);
  pipe.submit(f1);
  ASSERT_TRUE(pipe.wait_idle(120.0));
  ASSERT_TRUE(pipe.error()) << "the run was expected to fail (int64 into a float input)";
  EXPECT_FALSE(pipe.has_result());
  bool same = false;
  EXPECT_TRUE(pipe.try_with_session([&](const Session& ss) {
    Tensor x = ss.activations().fetch("x");
    same = std::memcmp(x.data(), x0.data(), static_cast<size_t>(x0.numel()) * sizeof(float)) == 0;
  })) << "after a failed run the panels could not read the session any more";
  EXPECT_TRUE(same) << "the session does not hold the input on screen";
}

// Exit never waits on a stalled source: a feeder blocked reading a pipe that went silent (600 s
// read limit) is interrupted by its destructor, which returns; then the pipeline shuts down.
// Asserted: the destructors returned (the ctest TIMEOUT is the hang guard) and frames did flow.
TEST(LivePipeline, FeederShutdownInterruptsAStalledSource) {
  if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " missing (scripts/fetch-models.sh)";
  if (access(NETLENS_FFMPEG, X_OK) != 0) GTEST_SKIP() << "ffmpeg CLI not found";
  const fs::path d = temp_dir("feeder_stall");
  const std::string ts = media::test::slurp(
      media::test::make_test_video(NETLENS_FFMPEG, d, "v.ts", 250, "-c:v mpeg4 -q:v 10 -f mpegts", "192x48"));
  const fs::path fifo = media::test::make_fifo(d, "in.fifo");
  media::test::StallingWriter writer(fifo, ts.substr(0, ts.size() / 2));
  auto backend = make_cpu_backend();
  Session s(load_onnx(kModel), {backend.get()});
  ImagePreprocess pp;
  pp.width = 192, pp.height = 48;
  auto src = media::open_source(fifo.string(), {.open_timeout_s = 60.0, .read_timeout_s = 600.0});
  auto first = src->next();
  ASSERT_TRUE(first);
  s.run({{"x", media::frame_to_tensor(*first, pp)}});
  live::LiveConfig cfg{.input_name = "x", .pp = pp, .layout = live::live_layout(s)};
  {
    live::LivePipeline pipe(s, cfg);
    {
      live::SourceFeeder feeder(std::move(src), pipe, {.realtime = false});
      // Frames flow until the data runs out (about 125 frames); then the feeder waits on the silent pipe.
      while (pipe.stats().submitted < 100 && !feeder.error()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      EXPECT_FALSE(feeder.error()) << *feeder.error();
      EXPECT_FALSE(feeder.finished());
    }  // ~SourceFeeder: interrupts the read and joins
    EXPECT_GE(pipe.stats().submitted, 100u);
  }  // ~LivePipeline
}

// live::InferenceThread: call() runs on the one thread (the same for every call), returns the value,
// rethrows the exception (the thread survives it), runs directly when made from that thread, and
// post()ed tasks run in order before a later call returns.
TEST(InferenceThread, CallRunsOnItsThreadInOrderAndRethrows) {
  live::InferenceThread t;
  const std::thread::id id = t.call([] { return std::this_thread::get_id(); });
  EXPECT_NE(id, std::this_thread::get_id());
  EXPECT_EQ(t.call([] { return std::this_thread::get_id(); }), id);
  EXPECT_EQ(t.call([] { return 6 * 7; }), 42);
  EXPECT_THROW(t.call([]() -> int { throw Error(ErrorKind::Input, "inside"); }), Error);
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) t.post([&order, i] { order.push_back(i); });
  EXPECT_EQ(t.call([&] { return t.call([] { return 7; }); }), 7) << "a call from the thread itself runs directly";
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

// The session made on an InferenceThread and handed to the pipeline is prepared once: the arena
// allocator (called once per prepare) runs once, every run and call() happen on that thread, and the
// results equal a fresh session's; the re-planning form prepares twice (the cost the thread saves).
TEST(LivePipeline, PreparedOnceOnTheInferenceThread) {
  if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " missing (scripts/fetch-models.sh)";
  ImagePreprocess pp;
  pp.width = 192, pp.height = 48;
  auto count_prepares = [](int& n) {
    SessionOptions so;
    so.arena_allocator = [&n](Backend&, size_t) { ++n; return DeviceBuffer(nullptr, [](void*) {}); };
    return so;
  };
  int prepares = 0;
  auto backend = make_cpu_backend();
  live::InferenceThread worker;
  std::thread::id worker_id;
  std::unique_ptr<Session> s = worker.call([&] {
    worker_id = std::this_thread::get_id();
    auto ss = std::make_unique<Session>(load_onnx(kModel), std::vector<Backend*>{backend.get()}, count_prepares(prepares));
    ss->prepare({{"x", Shape{1, 3, 48, 192}}});
    ss->run({{"x", media::frame_to_tensor(sample_frame(0), pp)}});
    return ss;
  });
  ASSERT_EQ(prepares, 1);
  EXPECT_NE(worker_id, std::this_thread::get_id());
  live::LiveConfig cfg{.input_name = "x", .pp = pp, .layout = live::live_layout(*s)};
  const viz::Layout layout = cfg.layout;
  {
    live::LivePipeline pipe(*s, cfg, worker);
    pipe.submit(sample_frame(3));
    auto res = pipe.wait_result(120.0);
    ASSERT_TRUE(res);
    EXPECT_FALSE(pipe.error());
    std::thread::id call_id;
    pipe.call([&](Session& ss) {
      call_id = std::this_thread::get_id();
      EXPECT_TRUE(ss.activations().contains("x"));
    });
    EXPECT_EQ(call_id, worker_id);
    EXPECT_THROW(pipe.call([](Session&) { throw Error(ErrorKind::Usage, "from the call"); }), Error);
    auto backend2 = make_cpu_backend();
    Session fresh(load_onnx(kModel), {backend2.get()});
    fresh.run({{"x", media::frame_to_tensor(sample_frame(3), pp)}});
    viz::Scene ref = viz::build_scene(layout, [&](const std::string& n) { return fresh.activations().fetch(n); });
    ASSERT_EQ(ref.layers.size(), res->scene.layers.size());
    for (size_t l = 0; l < ref.layers.size(); ++l) EXPECT_EQ(ref.layers[l].values, res->scene.layers[l].values) << l;
  }
  EXPECT_EQ(prepares, 1) << "the pipeline planned the session again";
  // The re-planning form: a session prepared on this thread is prepared again on the pipeline's.
  int replans = 0;
  Session t(load_onnx(kModel), {backend.get()}, count_prepares(replans));
  t.run({{"x", media::frame_to_tensor(sample_frame(0), pp)}});
  {
    live::LivePipeline pipe(t, live::LiveConfig{.input_name = "x", .pp = pp, .layout = layout});
    pipe.submit(sample_frame(1));
    ASSERT_TRUE(pipe.wait_result(120.0));
  }
  EXPECT_EQ(replans, 2);
  worker.call([&] { s.reset(); });  // destroyed on the thread that made its kernels
}

// oneDNN ties primitives to the thread that created them (its library scratchpad): a session planned
// on the main thread and run on the pipeline's thread crashed inside oneDNN for ResNet-50's
// convolutions. The pipeline plans again on its own thread; its result for input B must equal the
// main thread's run of B (same kernels, same order: tolerance 1e-5 relative L2), after A ran in between.
TEST(LivePipeline, ResNet50RunsOnTheInferenceThread) {
  const std::string model = fs::path(kModel).parent_path() / "resnet50.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << model << " missing (scripts/fetch-models.sh)";
  auto backend = make_cpu_backend();
  Session s(load_onnx(model), {backend.get()});
  ImagePreprocess pp;
  pp.width = 224, pp.height = 224, pp.mean = {0.485f, 0.456f, 0.406f}, pp.std = {0.229f, 0.224f, 0.225f};
  auto frame = [&](int k) {
    Rgb8Image im = load_image_rgb8(kSamples + "/" + kImages[k]);
    return media::Frame{.width = im.width, .height = im.height, .rgb = std::move(im.pixels), .index = k, .name = kImages[k]};
  };
  const std::string in_name = s.graph().inputs.at(0).name, out_name = s.graph().outputs.at(0).name;
  s.prepare({{in_name, Shape{1, 3, 224, 224}}});
  s.run({{in_name, media::frame_to_tensor(frame(1), pp)}});
  const Tensor ref = s.activations().fetch(out_name).clone();
  s.run({{in_name, media::frame_to_tensor(frame(0), pp)}});
  live::LiveConfig cfg{.input_name = in_name, .pp = pp, .layout = live::live_layout(s)};
  const int out_layer = cfg.layout.find(out_name);
  ASSERT_GE(out_layer, 0);
  live::LivePipeline pipe(s, cfg);
  pipe.submit(frame(1));
  ASSERT_TRUE(pipe.wait_idle(300.0));
  EXPECT_FALSE(pipe.error()) << pipe.error().value_or("");
  auto res = pipe.take_result();
  ASSERT_TRUE(res);
  const auto& got = res->scene.layers[static_cast<size_t>(out_layer)].values;
  ASSERT_EQ(static_cast<int64_t>(got.size()), ref.numel());
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double r = ref.data_as<float>()[i];
    num += (got[i] - r) * (got[i] - r);
    den += r * r;
  }
  EXPECT_LE(std::sqrt(num / den), 1e-5);
}

// Runs `netlens ARGS`; returns its exit status.
int netlens(const std::string& args) {
  const std::string cmd = std::string(NETLENS_BIN) + " " + args + " 2>>'" +
                          (fs::temp_directory_path() / ("netlens_live_cli_" + std::to_string(getpid()) + ".log")).string() + "'";
  return std::system(cmd.c_str());
}

std::vector<uint8_t> png_pixels(const fs::path& p) { return load_image_rgb8(p.string()).pixels; }

// Renders every frame of `spec` through `render --input SPEC --out DIR/`, then each decoded frame
// alone; the two must be identical, and consecutive inputs must differ.
void check_live_render(const std::string& spec, const std::vector<fs::path>& singles, const fs::path& work) {
  // Validation layers on for the live run (the in-place updates); the references are plain renders.
  const std::string common = "'" + kModel + "' --size 320x200 --title live";
  ASSERT_EQ(netlens("render " + common + " --validation --input '" + spec + "' --out '" + (work / "live").string() + "/'"), 0);
  for (size_t k = 0; k < singles.size(); ++k) {
    char name[32];
    std::snprintf(name, sizeof name, "%06zu.png", k);
    const fs::path out = work / "live" / name;
    ASSERT_TRUE(fs::exists(out)) << out;
    // The single-input render: the model's input size is dynamic, the live path fixes it to the
    // first frame's (192x48), so the reference is told that size.
    const fs::path ref = work / ("single_" + std::to_string(k) + ".png");
    ASSERT_EQ(netlens("render " + common + " --input '" + singles[k].string() + "' --input-size 192x48 --out '" +
                      ref.string() + "'"),
              0);
    EXPECT_EQ(differing_pixels(png_pixels(out), png_pixels(ref)), 0u) << out << " vs " << ref;
    if (k > 0) {
      char prev[32];
      std::snprintf(prev, sizeof prev, "%06zu.png", k - 1);
      EXPECT_GT(differing_pixels(png_pixels(out), png_pixels(work / "live" / prev)), 100u) << "inputs " << k - 1 << ", " << k;
    }
  }
  char extra[32];
  std::snprintf(extra, sizeof extra, "%06zu.png", singles.size());
  EXPECT_FALSE(fs::exists(work / "live" / extra));
}

TEST(LiveCli, RenderFolderEqualsSingleInputRenders) {
  if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " missing (scripts/fetch-models.sh)";
  fs::path work = temp_dir("cli_folder");
  fs::create_directories(work / "in");
  std::vector<fs::path> singles;
  for (int k = 0; k < 3; ++k) {
    singles.push_back(work / "in" / ("img" + std::to_string(k) + ".png"));
    fs::copy_file(kSamples + "/" + kImages[k], singles.back());
  }
  check_live_render((work / "in").string(), singles, work);
  // --max-inputs bounds the output.
  ASSERT_EQ(netlens("render '" + kModel + "' --size 160x100 --input '" + (work / "in").string() + "' --max-inputs 2 --out '" +
                    (work / "two").string() + "/'"),
            0);
  EXPECT_TRUE(fs::exists(work / "two" / "000001.png"));
  EXPECT_FALSE(fs::exists(work / "two" / "000002.png"));
}

TEST(LiveCli, RenderVideoEqualsSingleInputRenders) {
  if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " missing (scripts/fetch-models.sh)";
  if (access(NETLENS_FFMPEG, X_OK) != 0) GTEST_SKIP() << "ffmpeg CLI not found";
  fs::path work = temp_dir("cli_video");
  for (int k = 0; k < 3; ++k) fs::copy_file(kSamples + "/" + kImages[k], work / ("in" + std::to_string(k) + ".png"));
  const fs::path video = work / "lines.mp4";
  const std::string cmd = std::string(NETLENS_FFMPEG) + " -loglevel error -y -framerate 5 -i '" + (work / "in%d.png").string() +
                          "' -vf scale=192:48 -c:v mpeg4 -q:v 2 -pix_fmt yuv420p '" + video.string() + "' < /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  // The decoded frames as PNG files (lossless): the single-input references.
  auto src = media::open_source(video.string());
  std::vector<fs::path> singles;
  while (auto f = src->next()) {
    std::vector<uint8_t> rgba(static_cast<size_t>(f->width) * static_cast<size_t>(f->height) * 4, 255);
    for (size_t i = 0; i < rgba.size() / 4; ++i) std::memcpy(&rgba[4 * i], &f->rgb[3 * i], 3);
    singles.push_back(work / ("frame" + std::to_string(f->index) + ".png"));
    write_png_rgba(singles.back().string(), f->width, f->height, rgba.data());
  }
  ASSERT_EQ(singles.size(), 3u);
  check_live_render(video.string(), singles, work);
}

}  // namespace
