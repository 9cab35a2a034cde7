// Model::render_png through the one frame driver (compiled in only when netlens_app exists; it
// registers itself at start-up, model.hpp: png_renderer): exactly what `netlens render` does for the
// same flags (src/cli/cmd_render.cpp), into a temporary PNG whose bytes are returned. Going through
// the file keeps the pixels identical to the CLI's by construction (same driver, same PNG writer).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "netlens/cli/frame_flags.hpp"
#include "netlens/app/headless.hpp"
#include "model.hpp"

namespace netlens::pyapi {

namespace {

// A private temporary folder, removed with everything in it when this goes out of scope.
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "netlens-py-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw Error(ErrorKind::Io, "render: cannot create a temporary folder in " + tmpl);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::string render_png_with_app(Model& m, const RenderOptions& o) {
  Session& s = m.session();
  app::FrameSpec fs;
  // The CLI's range check and message for --size.
  std::tie(fs.width, fs.height) = cli::parse_size(std::to_string(o.width) + "x" + std::to_string(o.height), "size");
  if (!o.camera.empty() && !o.view.empty()) throw Error(ErrorKind::Usage, "camera and view are exclusive");
  fs.camera.file = o.camera;
  fs.camera.view = o.view.empty() ? "overview" : o.view;
  fs.select = o.select;
  fs.title = o.title ? *o.title : (m.path().empty() ? std::string() : std::filesystem::path(m.path()).stem().string());
  fs.lod_mean = o.lod_mean;
  fs.values = viz::parse_value_mode(o.values, "values");
  fs.collapse = o.collapse;
  if ((!o.target.empty() || !o.score.empty()) && fs.values == viz::ValueMode::Activation)
    throw Error(ErrorKind::Usage, "target and score choose what gradients are of: give values='gradient' or 'attribution'");
  if (fs.values != viz::ValueMode::Activation) {
    const explain::Target t = m.backward(o.target, o.score, o.labels);
    fs.subtitle = std::string(fs.values == viz::ValueMode::Gradient ? "gradients" : "gradient x activation") + " of the " +
                  t.description;
  }
  TempDir dir;
  app::FrameJob job{.frame = fs, .device = {.gpu = o.gpu, .validation = false}, .out = dir.path + "/frame.png"};
  app::render_frame(s, job);
  std::ifstream f(job.out, std::ios::binary);
  std::string png((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!f.good() && !f.eof()) throw Error(ErrorKind::Io, "render: cannot read back " + job.out);
  return png;
}

const bool kRegistered = (png_renderer() = render_png_with_app, true);

}  // namespace
}  // namespace netlens::pyapi
