// netlens record: a camera tour rendered offscreen into an H.264 MP4 and/or a PNG sequence
// (app/record.hpp), for a single input or a live one (a folder of images, a video).
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "netlens/cli/common.hpp"
#include "netlens/cli/frame_flags.hpp"
#include "netlens/explain.hpp"
#include "netlens/onnx.hpp"
#include "netlens/app/record.hpp"

namespace netlens::cli {
namespace {

int run_record(const std::vector<std::string>& argv) {
  std::vector<std::string> flags = {"out", "tour", "fps", "frames-dir", "max-frames", "save-tour", "gpu", "title", "collapse",
                                    "crf", "target", "score", "still", "at", "tile"};
  flags.insert(flags.end(), kModelFlags.begin(), kModelFlags.end());  // includes size and input-size
  std::vector<std::string> bools = {"validation", "lod-mean", "quiet"};
  bools.insert(bools.end(), kModelBoolFlags.begin(), kModelBoolFlags.end());
  Args a(argv, flags, bools, kModelRepeated);
  if (a.positional().size() != 1) throw Error(ErrorKind::Usage, "record expects exactly one MODEL argument");
  const bool still = a.has("still");
  if (still && (a.has("out") || a.has("frames-dir") || a.has("fps") || a.has("max-frames")))
    throw Error(ErrorKind::Usage, "record --still FILE.png makes one picture: --out, --frames-dir, --fps and --max-frames do not apply");
  if (!still && (a.has("at") || a.has("tile"))) throw Error(ErrorKind::Usage, "--at and --tile go with --still FILE.png");
  if (!still && !a.has("out") && !a.has("frames-dir"))
    throw Error(ErrorKind::Usage, "record: give --out FILE.mp4 and/or --frames-dir DIR (or --still FILE.png)");
  app::RecordJob job;
  job.frame.width = 1920;
  job.frame.height = 1080;
  if (auto s = a.get("size")) {
    if (still) {
      // Stills are tiled: sides beyond the renderer's 8192.
      const size_t x = s->find('x');
      char* end = nullptr;
      const long w = x == std::string::npos ? 0 : std::strtol(s->c_str(), &end, 10);
      const bool w_ok = end == s->c_str() + x;
      const long h = x == std::string::npos ? 0 : std::strtol(s->c_str() + x + 1, &end, 10);
      if (!w_ok || *end || w < 16 || h < 16 || w > 32768 || h > 32768)
        throw Error(ErrorKind::Usage, "--size " + *s + ": expected WxH with sides in 16..32768 for --still");
      job.frame.width = static_cast<int>(w);
      job.frame.height = static_cast<int>(h);
    } else {
      std::tie(job.frame.width, job.frame.height) = parse_size(*s, "--size");
    }
  }
  job.out = a.get_or("out", "");
  job.frames_dir = a.get_or("frames-dir", "");
  const int64_t fps = a.get_int("fps", 30);
  if (fps < 1 || fps > 240) throw Error(ErrorKind::Usage, "--fps " + std::to_string(fps) + " must be in 1..240");
  job.fps = static_cast<int>(fps);
  const int64_t crf = a.get_int("crf", 16);
  if (crf < 0 || crf > 51) throw Error(ErrorKind::Usage, "--crf " + std::to_string(crf) + " must be in 0..51");
  job.crf = static_cast<int>(crf);
  job.max_frames = a.get_int("max-frames", 0);
  if (job.max_frames < 0) throw Error(ErrorKind::Usage, "--max-frames must be >= 0");
  if (!job.out.empty() && (job.frame.width % 2 || job.frame.height % 2))
    throw Error(ErrorKind::Usage, "--size " + *a.get("size") + ": an MP4 (H.264 yuv420p) needs even sides");
  job.save_tour = a.get_or("save-tour", "");
  job.quiet = a.has("quiet");
  job.frame.title = a.get_or("title", std::filesystem::path(a.positional()[0]).stem().string());
  job.frame.lod_mean = a.has("lod-mean");
  job.frame.collapse = a.get_or("collapse", "none");
  job.device = app::HeadlessOptions{.gpu = static_cast<int>(a.get_int("gpu", -1)), .validation = a.has("validation")};
  // The tour and the output are checked before the (slow) model run: a bad file is one line at once.
  if (auto t = a.get("tour")) {
    job.tour = viz::read_tour(*t);
    job.tour_name = *t;
  }
  for (const std::string& out : {job.out, still ? *a.get("still") : std::string()}) {
    if (out.empty()) continue;
    const std::filesystem::path dir = std::filesystem::path(out).parent_path();
    std::error_code ec;
    if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
      throw Error(ErrorKind::Io, out + ": the folder '" + dir.string() + "' does not exist");
  }
  const bool gradients = job.tour && std::any_of(job.tour->keys.begin(), job.tour->keys.end(),
                                                 [](const viz::Keyframe& k) { return k.values != "activation"; });
  ModelOptions mo = parse_model_options(a, /*size_is_image=*/false);  // --size is the frame here
  auto live_it = std::find_if(mo.inputs.begin(), mo.inputs.end(), [](const std::string& in) {
    const size_t eq = in.find('=');
    return media::is_live_spec(in) || (eq != std::string::npos && media::is_live_spec(in.substr(eq + 1)));
  });
  if (live_it != mo.inputs.end() && !still) {
    const std::string spec = *live_it;
    mo.inputs.erase(live_it);
    if (gradients) throw Error(ErrorKind::Usage, "record --input " + spec + ": a live input shows activations only (the tour asks for gradients)");
    Graph g = load_onnx(mo.model);
    live::LiveInput in = live::open_live_input(g, spec, mo.pp, mo.size_given, mo.input_shapes);
    mo.input_shapes[in.input_name] = in.first_tensor.shape();
    LoadedModel m = load_model(mo, /*need_inputs=*/true, std::move(g));
    m.inputs[in.input_name] = in.first_tensor;
    run_once(m);
    *m.run_progress = Progress("running node", /*quiet=*/true);
    app::RecordLive rl;
    rl.cfg = live::LiveConfig{.input_name = in.input_name, .input_dtype = in.first_tensor.dtype(), .pp = in.pp, .other_inputs = m.inputs};
    rl.cfg.other_inputs.erase(in.input_name);
    rl.input = &in;
    // Offline frames: the staging path (host scene → device buffers) is deterministic and needs no CUDA.
    auto up = live::make_uploader("off", m.backends.front()->name(), "--interop off", &rl.start_line, "record");
    rl.uploader = up.get();
    app::record(*m.session, job, &rl);
    return 0;
  }
  if (still && live_it != mo.inputs.end()) throw Error(ErrorKind::Usage, "--still takes a single input (an image), not a folder or video");
  LoadedModel m = load_model(mo, /*need_inputs=*/true);
  run_once(m);
  if (gradients) {
    const explain::Target t = explain::resolve_target(
        *m.session, explain::parse_target(a.get_or("target", ""), explain::parse_score(a.get_or("score", "logit"))), {});
    m.session->backward(t.seeds(*m.session));
    std::fprintf(stderr, "netlens record: gradients of %s for the tour's gradient keyframes\n", t.description.c_str());
  }
  if (still) {
    app::StillJob sj{.frame = job.frame, .device = job.device, .tour = job.tour, .tour_name = job.tour_name,
                     .at = a.get_double("at", 0.0), .out = *a.get("still"), .max_tile = static_cast<int>(a.get_int("tile", 4096))};
    if (!(sj.at >= 0)) throw Error(ErrorKind::Usage, "--at must be >= 0 seconds");
    app::record_still(*m.session, sj);
    return 0;
  }
  app::record(*m.session, job);
  return 0;
}

NETLENS_COMMAND("record",
                "record MODEL [--input FILE|DIR|VIDEO] [--tour tour.json] (--out talk.mp4 | --frames-dir DIR) [--size 1920x1080] "
                "[--fps 30] [--crf 16] [--max-frames N] [--save-tour FILE] [--title T] [--collapse SPEC] [--gpu N] [--validation] "
                "[--quiet]\n"
                "       record MODEL --input FILE --still poster.png [--size 15360x8640] [--tour tour.json --at SECONDS] [--tile 4096]",
                "play a camera tour offscreen (default: an orbit of the overview, then each stage) and encode it as an H.264 MP4 "
                "and/or a PNG sequence, with the tour's captions; a folder or video input changes the activations over the video; --still renders one picture of any size in "
                "off-axis tiles (posters beyond the device's image size)",
                run_record);

}  // namespace
}  // namespace netlens::cli
