#include "render_command.hpp"

#include <algorithm>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace netlens::render {

namespace {
int to_int(const std::string& s, const std::string& flag) {
  size_t pos = 0;
  int v = 0;
  try {
    v = std::stoi(s, &pos);
  } catch (...) {
    pos = 0;
  }
  if (s.empty() || pos != s.size()) throw Error(ErrorKind::Usage, flag + ": '" + s + "' is not an integer");
  return v;
}
}  // namespace

std::pair<int, int> parse_size(const std::string& text, const std::string& flag) {
  auto x = text.find('x');
  if (x == std::string::npos) throw Error(ErrorKind::Usage, flag + " expects WIDTHxHEIGHT, got '" + text + "'");
  int w = to_int(text.substr(0, x), flag), h = to_int(text.substr(x + 1), flag);
  if (w < 16 || h < 16 || w > 8192 || h > 8192)
    throw Error(ErrorKind::Usage, flag + " " + text + " is out of range (16..8192 per side)");
  return {w, h};
}

std::pair<int, int> parse_xy(const std::string& text, const std::string& flag) {
  auto c = text.find(',');
  if (c == std::string::npos) throw Error(ErrorKind::Usage, flag + " expects X,Y, got '" + text + "'");
  return {to_int(text.substr(0, c), flag), to_int(text.substr(c + 1), flag)};
}

viz::Camera choose_camera(const viz::Layout& l, const RenderArgs& a) {
  const float aspect = float(a.width) / float(a.height);
  if (!a.camera_file.empty()) {
    std::ifstream f(a.camera_file);
    if (!f) throw Error(ErrorKind::Io, "cannot read camera file '" + a.camera_file + "'");
    std::stringstream ss;
    ss << f.rdbuf();
    return viz::camera_from_json(ss.str(), a.camera_file);
  }
  if (a.view == "overview" || a.view.empty()) return viz::overview_camera(l, aspect);
  if (a.view.rfind("layer:", 0) == 0) {
    std::string name = a.view.substr(6);
    int i = l.find(name);
    if (i < 0) {
      std::string known;
      for (size_t k = 0; k < l.layers.size() && k < 8; ++k) known += (k ? ", " : "") + l.layers[k].tensor.name;
      throw Error(ErrorKind::Usage, "--view layer:" + name + ": no shown tensor with that name (shown: " + known +
                                        (l.layers.size() > 8 ? ", ..." : "") + ")");
    }
    return viz::focus_camera(l, i, aspect);
  }
  throw Error(ErrorKind::Usage, "--view expects 'overview' or 'layer:NAME', got '" + a.view + "'");
}

std::pair<int, int64_t> parse_select(const viz::Layout& l, const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw Error(ErrorKind::Usage, "--select expects TENSOR:INDEX, TENSOR:c,y,x or TENSOR:[c, y, x], got '" + text + "'");
  std::string name = text.substr(0, colon), idx;
  // Accept exactly what --pick prints ("index": [c, y, x]) as well as c,y,x: brackets and spaces go.
  for (char ch : text.substr(colon + 1))
    if (ch != ' ' && ch != '\t') idx += ch;
  if (idx.size() >= 2 && idx.front() == '[' && idx.back() == ']') idx = idx.substr(1, idx.size() - 2);
  int layer = l.find(name);
  if (layer < 0) throw Error(ErrorKind::Usage, "--select: no shown tensor named '" + name + "'");
  const auto& d = l.layers[static_cast<size_t>(layer)].dims;
  std::vector<int64_t> parts;
  std::stringstream ss(idx);
  std::string p;
  while (std::getline(ss, p, ',')) parts.push_back(to_int(p, "--select"));
  int64_t flat = -1;
  if (parts.size() == 1) flat = parts[0];
  else if (parts.size() == 3 && parts[0] >= 0 && parts[0] < d.C && parts[1] >= 0 && parts[1] < d.H && parts[2] >= 0 &&
           parts[2] < d.W)
    flat = viz::flat_of(d, parts[0], parts[1], parts[2]);
  if (flat < 0 || flat >= d.count)
    throw Error(ErrorKind::Usage, "--select: index '" + idx + "' is out of range for '" + name + "' (" +
                                      std::to_string(d.C) + "x" + std::to_string(d.H) + "x" + std::to_string(d.W) + ")");
  return {layer, flat};
}

int render_session(const Session& s, const RenderArgs& a) {
  viz::Layout layout = viz::layout_tensors(viz::select_tensors(s.graph(), s.planned()));
  if (layout.layers.empty()) throw Error(ErrorKind::Input, "render: the model has no float tensor to show");
  // A decoration's side columns: the camera frames the region between them (centred, as they are equal).
  const int inset = a.decoration ? std::clamp(a.decoration->inset(a.width, a.height), 0, a.width / 2 - 8) : 0;
  RenderArgs framing = a;
  framing.width = a.width - 2 * inset;
  viz::Camera cam = choose_camera(layout, framing);
  viz::Scene scene = viz::build_scene(std::move(layout), viz::value_fetch(s, a.values));
  Context ctx(ContextOptions{.gpu = a.gpu, .validation = a.validation ? std::optional<bool>(true) : std::nullopt});
  RenderOptions ro{.width = a.width, .height = a.height, .lod_max = !a.lod_mean,
                   .title = a.title.empty() ? (s.graph().name.empty() ? std::string("netlens") : s.graph().name) : a.title,
                   .subtitle = a.subtitle, .value_name = viz::value_mode_name(a.values),
                   .inset_left = inset, .inset_right = inset};
  // Declared after the context and before the renderer: detached after the renderer is gone and
  // before the context is (it owns Vulkan objects of ctx), on errors too.
  FrameDecoration* decoration = a.decoration.get();
  struct Detach {
    FrameDecoration* d;
    ~Detach() {
      if (d) d->detach();
    }
  } detach{decoration};
  Renderer r(ctx, scene, ro);
  Selection selection;
  if (!a.select.empty()) {
    auto [layer, flat] = parse_select(scene.layout, a.select);
    viz::ShapeFn shapes = [&](const std::string& n) -> std::optional<Shape> {
      const PlannedTensor* t = s.activations().find(n);
      if (!t || t->constant) return std::nullopt;
      return t->info.shape;
    };
    selection = make_selection(scene, layer, flat, &s.graph(), shapes);
    r.set_selection(selection);
  }
  if (decoration) {
    int focus = a.view.rfind("layer:", 0) == 0 && a.camera_file.empty() ? scene.layout.find(a.view.substr(6)) : -1;
    decoration->attach(ctx, r, scene, selection, focus);
  }
  r.render(cam);
  if (a.frames > 0) {
    // Frame time of this view (the first frame above warmed pipelines and buffers): the figure the
    // renderer's targets are about, for real models rather than bench-render's synthetic ones.
    std::vector<double> t;
    FrameStats last;
    for (int f = 0; f < a.frames; ++f) {
      last = r.render(cam);
      t.push_back(last.total_ms);
    }
    std::sort(t.begin(), t.end());
    std::fprintf(stderr, "netlens: frames: %d at %dx%d on %s, median %.2f ms (min %.2f, max %.2f), %u draws\n", a.frames,
                 a.width, a.height, ctx.device_name().c_str(), t[t.size() / 2], t.front(), t.back(), last.draws);
  }
  r.write_png(a.out);
  if (!a.save_camera.empty()) {
    std::ofstream f(a.save_camera);
    if (!f || !(f << viz::camera_to_json(cam))) throw Error(ErrorKind::Io, "cannot write camera file '" + a.save_camera + "'");
  }
  if (a.pick) {
    auto [x, y] = *a.pick;
    if (x < 0 || y < 0 || x >= a.width || y >= a.height)
      throw Error(ErrorKind::Usage, "--pick " + std::to_string(x) + "," + std::to_string(y) + " is outside the " +
                                        std::to_string(a.width) + "x" + std::to_string(a.height) + " frame");
    std::printf("%s\n", viz::pick_to_json(r.pick(x, y), scene).c_str());
  }
  if (decoration) decoration->finish();
  if (ctx.validation() && ctx.validation_error_count())
    throw Error(ErrorKind::Internal, "render: " + std::to_string(ctx.validation_error_count()) + " Vulkan validation error(s)");
  return 0;
}

}  // namespace netlens::render
