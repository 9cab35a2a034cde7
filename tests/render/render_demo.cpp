// Development/demo tool: renders a synthetic network (VGG-16 shapes by default) offscreen to PNG.
//   netlens_render_demo OUT.png [--net vgg16|1e5|...] [--size WxH] [--view overview|layer:NAME]
//                       [--orbit YAW,PITCH] [--zoom Z] [--select TENSOR:INDEX] [--camera FILE]
//                       [--save-camera FILE] [--validation] [--mean]
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "netlens/viz/picking.hpp"
#include "netlens/render/renderer.hpp"

using namespace netlens;

namespace {
std::pair<int, int> two_ints(const std::string& text, char sep, const std::string& flag) {
  int a = 0, b = 0;
  char c = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &a, &c, &b, &extra) != 3 || c != sep)
    throw Error(ErrorKind::Usage, flag + ": bad value '" + text + "'");
  return {a, b};
}

viz::Camera camera_for(const viz::Layout& l, const std::string& view, const std::string& file, float aspect) {
  if (!file.empty()) {
    std::ifstream f(file);
    std::stringstream ss;
    ss << f.rdbuf();
    return viz::camera_from_json(ss.str(), file);
  }
  if (view.rfind("layer:", 0) == 0) {
    const int i = l.find(view.substr(6));
    if (i < 0) throw Error(ErrorKind::Usage, "--view " + view + ": no such layer");
    return viz::focus_camera(l, i, aspect);
  }
  return viz::overview_camera(l, aspect);
}

struct DemoArgs {
  std::string out, view = "overview", select, camera_file, save_camera, title;
  int width = 1920, height = 1080;
  bool validation = false, lod_mean = false;
};
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: netlens_render_demo OUT.png [options] (see source)\n");
    return 2;
  }
  try {
    DemoArgs a;
    a.out = argv[1];
    std::string net = "vgg16";
    float yaw = 0, pitch = 0, zoom = 1;
    int msaa = 4;
    bool labels = true, lighting = true;
    for (int i = 2; i < argc; ++i) {
      std::string k = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw Error(ErrorKind::Usage, k + " needs a value");
        return argv[++i];
      };
      if (k == "--net") net = next();
      else if (k == "--size") std::tie(a.width, a.height) = two_ints(next(), 'x', k);
      else if (k == "--view") a.view = next();
      else if (k == "--orbit") std::tie(yaw, pitch) = two_ints(next(), ',', k), void();
      else if (k == "--zoom") zoom = std::stof(next());
      else if (k == "--select") a.select = next();
      else if (k == "--camera") a.camera_file = next();
      else if (k == "--save-camera") a.save_camera = next();
      else if (k == "--validation") a.validation = true;
      else if (k == "--mean") a.lod_mean = true;
      else if (k == "--title") a.title = next();
      else if (k == "--msaa") msaa = std::stoi(next());
      else if (k == "--no-labels") labels = false;
      else if (k == "--no-lighting") lighting = false;
      else throw Error(ErrorKind::Usage, "unknown option " + k);
    }
    auto shapes = net == "vgg16" ? viz::vgg16_shapes() : viz::synthetic_vgg_shapes(static_cast<int64_t>(std::stod(net)));
    viz::Scene scene = viz::synthetic_scene(shapes, 7);
    viz::Camera cam = viz::orbit(camera_for(scene.layout, a.view, a.camera_file, float(a.width) / float(a.height)), yaw, pitch, zoom);
    render::Context ctx(render::ContextOptions{.validation = a.validation ? std::optional<bool>(true) : std::nullopt});
    render::RenderOptions ro{.width = a.width, .height = a.height, .msaa = msaa, .lighting = lighting, .labels = labels,
                             .legend = labels, .lod_max = !a.lod_mean, .title = a.title.empty() ? "VGG-16 (synthetic activations)" : a.title};
    render::Renderer r(ctx, scene, ro);
    if (!a.select.empty()) {
      auto [layer, flat] = viz::parse_neuron(scene.layout, a.select);
      r.set_selection(render::make_selection(scene, layer, flat));
    }
    auto st = r.render(cam);
    for (int k = 0; k < 3; ++k) {
      st = r.render(cam);
      std::fprintf(stderr, "  frame %.1f ms\n", st.total_ms);
    }
    r.write_png(a.out);
    if (!a.save_camera.empty()) std::ofstream(a.save_camera) << viz::camera_to_json(cam);
    std::fprintf(stderr, "frame %.1f ms (cpu %.1f), slabs %u, cells %u, validation errors %zu\n", st.total_ms,
                 st.cpu_ms, st.slab_instances, st.cell_instances, ctx.validation_error_count());
    return ctx.validation_error_count() ? 1 : 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "netlens_render_demo: error: %s\n", e.what());
    return 1;
  }
}
