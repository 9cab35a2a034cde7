#include "netlens/app/view.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "netlens/ui/imgui_layer.hpp"
#include "netlens/explain.hpp"
#include "netlens/viz/layout_groups.hpp"
#include "netlens/app/progressive.hpp"  // structure_scene
#include "netlens/ui/panels.hpp"
#include "netlens/viz/picking.hpp"
#include "netlens/render/vk_util.hpp"

namespace netlens::app {

viz::Camera choose_camera(const viz::Layout& l, const CameraSpec& c, int width, int height) {
  const float aspect = float(width) / float(height);
  if (!c.file.empty()) {
    std::ifstream f(c.file);
    if (!f) throw Error(ErrorKind::Io, "cannot read camera file '" + c.file + "'");
    std::stringstream ss;
    ss << f.rdbuf();
    return viz::camera_from_json(ss.str(), c.file);
  }
  if (c.view == "overview" || c.view.empty()) return viz::overview_camera(l, aspect);
  if (c.view.rfind("layer:", 0) == 0) {
    std::string name = c.view.substr(6);
    int i = l.find(name);
    if (i < 0) {
      std::string known;
      for (size_t k = 0; k < l.layers.size() && k < 8; ++k) known += (k ? ", " : "") + l.layers[k].tensor.name;
      throw Error(ErrorKind::Usage, "--view layer:" + name + ": no shown tensor with that name (shown: " + known +
                                        (l.layers.size() > 8 ? ", ..." : "") + ")");
    }
    return viz::focus_camera(l, i, aspect);
  }
  throw Error(ErrorKind::Usage, "--view expects 'overview' or 'layer:NAME', got '" + c.view + "'");
}

int focus_layer(const viz::Layout& l, const CameraSpec& c) {
  return c.view.rfind("layer:", 0) == 0 && c.file.empty() ? l.find(c.view.substr(6)) : -1;
}

namespace {

// The value source of a mode; in the gradient and attribution modes the model's image input shows
// the heat over it (saliency: max_c |dS/dx|; attribution: gradient × input summed over channels),
// as `netlens explain` maps it, instead of the raw per-channel values.
std::function<Tensor(const std::string&)> mode_fetch(const Session& ss, viz::ValueMode m, const viz::ValueSources& src,
                                                     const std::optional<explain::Heatmap>& heat = std::nullopt) {
  auto base = viz::value_fetch(ss, m, src);
  if (m != viz::ValueMode::Gradient && m != viz::ValueMode::Attribution) return base;
  std::string input;
  try {
    input = explain::input_layout(ss).name;
  } catch (const Error&) {
    return base;  // no image input: raw values everywhere
  }
  return [&ss, m, base, input, heat](const std::string& name) {
    if (name != input) return base(name);
    if (heat) return explain::input_heat_volume(ss, *heat);  // the host's method (View::set_input_heat)
    return explain::input_heat_volume(ss, explain::input_heat(ss, m == viz::ValueMode::Attribution));
  };
}

}  // namespace

double flow_bar_height(double v, double low, double top) {
  // Gradient norms span decades (MobileNetV2: 1 at the logits, ~1e-2 inside): a linear bar would
  // leave all but the last layers flat. 0.05 keeps the smallest non-zero norm visible.
  if (!(v > 0) || !(low > 0) || !(top > 0)) return 0.0;
  if (!(top > low)) return 1.0;
  return 0.05 + 0.95 * std::log(v / low) / std::log(top / low);
}

// The shown graph: the session's, without the hidden inputs (no initializer is read by the layout).
static Graph shown_graph(const Session& ss, const std::vector<std::string>& hidden) {
  Graph g;
  g.name = ss.graph().name;
  g.nodes = ss.graph().nodes;
  g.outputs = ss.graph().outputs;
  for (const ValueInfo& in : ss.graph().inputs)
    if (std::find(hidden.begin(), hidden.end(), in.name) == hidden.end()) g.inputs.push_back(in);
  return g;
}

std::vector<viz::VizTensor> view_tensors(const Session& ss, const std::vector<std::string>& hidden) {
  return viz::select_tensors(hidden.empty() ? ss.graph() : shown_graph(ss, hidden), ss.planned());
}

View::View(render::Context& ctx, const Session& s, const FrameSpec& spec, SessionAccess access)
    : ctx_(ctx), s_(s), spec_(spec), access_(std::move(access)) {
  viz::Layout layout;
  with_session([&](const Session& ss) {
    if (spec_.hidden_inputs.empty()) {
      layout = viz::layout_tensors(viz::shown_tensors(ss.graph(), ss.planned(), spec_.collapse).tensors);
      return;
    }
    layout = viz::layout_tensors(viz::shown_tensors(shown_graph(ss, spec_.hidden_inputs), ss.planned(), spec_.collapse).tensors);
  });
  if (layout.layers.empty()) throw Error(ErrorKind::Input, "the model has no float tensor to show");
  camera_ = choose_camera(layout, spec_.camera, spec_.width - 2 * spec_.inset, spec_.height);
  shapes_ = [this](const std::string& n) -> std::optional<Shape> {
    const PlannedTensor* t = s_.activations().find(n);
    if (!t || t->constant) return std::nullopt;
    return t->info.shape;
  };
  if (spec_.structure_only) {
    scene_ = std::make_unique<viz::Scene>(structure_scene(std::move(layout), viz::mode_scene_options(spec_.values, {})));
  } else {
    with_session([&](const Session& ss) {
      scene_ = std::make_unique<viz::Scene>(viz::build_scene(std::move(layout), mode_fetch(ss, spec_.values, spec_.sources, input_heat_),
                                                             viz::mode_scene_options(spec_.values, {.borrow_values = spec_.borrow_values})));
    });
  }
  make_renderer();
  if (!spec_.select.empty()) {
    auto [layer, flat] = viz::parse_neuron(scene_->layout, spec_.select);
    select(layer, flat);
  }
}

View::~View() {
  // The panels own Vulkan objects of the context: gone before the renderer, which goes before the
  // context (the borrower's).
  panels_.reset();
  gui_.reset();
  r_.reset();
}

void View::with_session(const std::function<void(const Session&)>& fn) const {
  if (access_) access_(fn);
  else fn(s_);
}

void View::make_renderer() {
  render::RenderOptions ro{.width = spec_.width, .height = spec_.height, .lod_max = !spec_.lod_mean,
                           .readback = spec_.readback,
                           .title = spec_.title.empty() ? (s_.graph().name.empty() ? std::string("netlens") : s_.graph().name)
                                                        : spec_.title,
                           .subtitle = spec_.subtitle, .value_name = viz::value_label(spec_.values, spec_.sources),
                           .inset_left = spec_.inset, .inset_right = spec_.inset};
  if (!spec_.overlays) ro.labels = ro.legend = false, ro.title.clear();
  ro.tokens = spec_.tokens;
  if (spec_.cell_budget > 0) ro.cell_budget = spec_.cell_budget;
  if (scene_->options.global_scale && !scene_->layers.empty()) {
    // One scale for every layer (the difference and metric modes): the legend shows its range.
    const viz::ColorScale& sc = scene_->layers.front().scale;
    ro.scale_note = spec_.values == viz::ValueMode::Metric ? "one scale, all layers (min-max)" : "one scale, all layers (p1-p99)";
    ro.scale_lo = sc.lo, ro.scale_hi = sc.hi, ro.scale_diverging = sc.kind == viz::ColorMapKind::Diverging;
  }
  bars_ = spec_.sources.layer_bars;
  flagged_.clear();
  std::string flow_note;
  if (bars_.empty() && spec_.flow_strip && (spec_.values == viz::ValueMode::Gradient || spec_.values == viz::ValueMode::Attribution)) {
    // The gradient-flow strip. The seeded tensor only decides which entry has no step ratio; the
    // norms (the bars) do not depend on it, and an output has no reader to be flagged against.
    with_session([&](const Session& ss) {
      if (!ss.has_gradients()) return;
      const explain::GradientFlow f = explain::gradient_flow(ss, "");
      for (const explain::FlowEntry& e : f.entries) {
        bars_[e.tensor] = e.grad_norm;
        if (!e.flag.empty()) flagged_.push_back(e.tensor);
      }
    });
    // The subtitle is the host's (the viewer writes the target there): the strip's note and the
    // flagged layers go to the Explain panel (View::flow_flagged), not into the frame.
    flow_note = "bars: gradient L2 norm per layer (log scale)";
  }
  if (spec_.overlays && !bars_.empty()) {  // the bars are 2D too
    double top = 0, low = 0;
    for (const auto& [t, v] : bars_) {
      top = std::max(top, v);
      if (v > 0) low = low > 0 ? std::min(low, v) : v;
    }
    for (const auto& l : scene_->layout.layers) {
      auto it = bars_.find(l.tensor.name);
      if (it == bars_.end() || !(top > 0)) {
        ro.layer_bars.push_back(std::nanf(""));
      } else if (!flow_note.empty()) {
        ro.layer_bars.push_back(float(flow_bar_height(it->second, low, top)));
      } else {
        ro.layer_bars.push_back(float(it->second / top));
      }
    }
    if (!flagged_.empty()) {
      // Flagged layers of the flow (vanishing/exploding) in the renderer's warning colour, with a legend entry.
      ro.layer_bar_warn.assign(scene_->layout.layers.size(), 0);
      for (size_t i = 0; i < scene_->layout.layers.size(); ++i)
        if (std::find(flagged_.begin(), flagged_.end(), scene_->layout.layers[i].tensor.name) != flagged_.end()) ro.layer_bar_warn[i] = 1;
      ro.bar_warn_note = "vanishing / exploding gradient (flow rule)";
    }
  }
  if (r_) {
    // Same size, insets and subtitle as the renderer it replaces (a window may have been resized).
    const render::RenderOptions& old = r_->options();
    ro.width = old.width;
    ro.height = old.height;
    ro.inset_left = old.inset_left;
    ro.inset_right = old.inset_right;
    ro.subtitle = old.subtitle;
    VK_CHECK(vkDeviceWaitIdle(ctx_.device()));
    r_.reset();
  }
  r_ = std::make_unique<render::Renderer>(ctx_, *scene_, ro);
  r_->set_value_reader([this](int layer, int64_t flat) { return device_value(layer, flat); });
  if (selection_.layer >= 0) r_->set_selection(selection_);
  contrib_shown_.clear();  // re-marked by the next draw_panels
}

void View::set_collapse(const std::string& spec) {
  viz::Scene next;
  with_session([&](const Session& ss) {
    const Graph g = spec_.hidden_inputs.empty() ? ss.graph() : shown_graph(ss, spec_.hidden_inputs);
    viz::Layout layout = viz::layout_tensors(viz::shown_tensors(g, ss.planned(), spec).tensors);
    if (spec_.structure_only) {
      next = structure_scene(std::move(layout), viz::mode_scene_options(spec_.values, scene_->options));
    } else {
      next = viz::build_scene(std::move(layout), mode_fetch(ss, spec_.values, spec_.sources, input_heat_),
                              viz::mode_scene_options(spec_.values, scene_->options));
    }
  });
  spec_.collapse = spec;
  clear_selection();
  *scene_ = std::move(next);  // new layers: a new renderer (layer records and buffers)
  make_renderer();
  refresh_panels();
}

// The full (uncollapsed) hierarchy and the current collapsed set, for expand/collapse edits.
static std::pair<viz::Hierarchy, std::vector<int>> current_groups(const Session& ss, const FrameSpec& spec,
                                                                  std::vector<viz::VizTensor>& all) {
  all = view_tensors(ss, spec.hidden_inputs);
  viz::Hierarchy h = viz::build_hierarchy(all);
  std::vector<int> set = viz::parse_collapse(spec.collapse, h, all.size());
  return {std::move(h), std::move(set)};
}

bool View::expand_block(int layer) {
  if (layer < 0 || static_cast<size_t>(layer) >= scene_->layout.layers.size()) return false;
  const viz::VizTensor& t = scene_->layout.layers[static_cast<size_t>(layer)].tensor;
  if (t.folded == 0 || t.group.empty()) return false;
  std::string next;
  with_session([&](const Session& ss) {
    std::vector<viz::VizTensor> all;
    auto [h, set] = current_groups(ss, spec_, all);
    const int g = h.find(t.group);
    if (g >= 0) next = viz::collapse_spec(h, viz::expand_group(h, set, g));
  });
  if (next.empty()) return false;
  set_collapse(next);
  return true;
}

bool View::collapse_block(int layer) {
  if (layer < 0 || static_cast<size_t>(layer) >= scene_->layout.layers.size()) return false;
  const viz::VizTensor& t = scene_->layout.layers[static_cast<size_t>(layer)].tensor;
  std::string next;
  with_session([&](const Session& ss) {
    std::vector<viz::VizTensor> all;
    auto [h, set] = current_groups(ss, spec_, all);
    int g = -1;
    if (t.folded > 0) {
      const int own = h.find(t.group);
      g = own >= 0 ? h.groups[static_cast<size_t>(own)].parent : -1;
    } else {
      for (size_t i = 0; i < all.size(); ++i)
        if (all[i].name == t.name) g = h.group_of[i];
    }
    if (g >= 0) next = viz::collapse_spec(h, viz::collapse_group(h, set, g));
  });
  if (next.empty()) return false;
  set_collapse(next);
  return true;
}

void View::set_values(viz::ValueMode m) {
  viz::Scene next;
  with_session([&](const Session& ss) {
    next = viz::build_scene(scene_->layout, mode_fetch(ss, m, spec_.sources, input_heat_), viz::mode_scene_options(m, scene_->options));
  });
  const bool renamed = m != spec_.values;
  spec_.values = m;
  spec_.structure_only = false;  // the scene holds the session's values now (a progressive run ended)
  partial_nodes_ = SIZE_MAX;
  if (renamed) {
    // The legend names the value: a renderer option, so a new renderer draws the new scene.
    *scene_ = std::move(next);
    make_renderer();
    refresh_panels();
  } else {
    replace_scene(std::move(next));
    refresh_panels();
  }
}

render::UploadStats View::patch_scene(const std::function<std::vector<int>(viz::Scene&)>& patch) {
  const std::vector<int> changed = patch(*scene_);
  const render::UploadStats st = r_->update_layers(*scene_, changed);
  // Uploaded: a piece's codes (SceneLayer::codes) are not needed again (a later upload makes them
  // from the values), so the piece's memory goes now.
  for (int l : changed)
    if (l >= 0 && static_cast<size_t>(l) < scene_->layers.size()) scene_->layers[static_cast<size_t>(l)].codes.reset();
  return st;
}

render::UploadStats View::replace_scene(viz::Scene next) {
  *scene_ = std::move(next);
  partial_nodes_ = SIZE_MAX;  // a new scene of values (a partial one says so after this)
  device_values_ = false;
  return r_->update_values(*scene_);  // same layout: codes and layer records in place
}

void View::check_live_values() const {
  // Live results are made on the inference thread from the run's activations (ResultUploader::capture).
  if (spec_.values != viz::ValueMode::Activation)
    throw Error(ErrorKind::Unsupported, std::string("live results show activations; this view shows ") +
                                            viz::value_mode_name(spec_.values) + "s");
}

// Same layers in the same order with the same sizes (what Renderer::update_values needs).
static bool same_layers(const viz::Layout& a, const viz::Layout& b) {
  if (a.layers.size() != b.layers.size()) return false;
  for (size_t i = 0; i < a.layers.size(); ++i)
    if (a.layers[i].tensor.name != b.layers[i].tensor.name || a.layers[i].dims.count != b.layers[i].dims.count) return false;
  return true;
}

render::UploadStats View::show_scene(viz::Scene next) {
  check_live_values();
  if (!same_layers(next.layout, scene_->layout)) {
    // The live pipeline lays out every shown tensor once; a collapsed view (the start rule for large
    // models, a click, X) shows a subset of them: each collapsed block is its output tensor. Take
    // each shown layer's values from the result by tensor name, on this view's scale options.
    std::vector<std::vector<float>> values;
    for (const auto& l : scene_->layout.layers) {
      const int i = next.layout.find(l.tensor.name);
      if (i < 0 || next.layers[static_cast<size_t>(i)].values.size() != static_cast<size_t>(l.dims.count))
        throw Error(ErrorKind::Internal, "live result lacks the shown tensor '" + l.tensor.name + "'");
      values.push_back(std::move(next.layers[static_cast<size_t>(i)].values));
    }
    next = viz::build_scene_from_values(scene_->layout, std::move(values), scene_->options);
  }
  return replace_scene(std::move(next));
}

void View::show_device_values(std::vector<viz::ColorScale> scales, std::map<int, std::vector<float>> host) {
  check_live_values();
  viz::Scene& shown = *scene_;
  device_values_ = true;
  last_read_.reset();
  for (size_t i = 0; i < shown.layers.size(); ++i) {
    viz::SceneLayer& L = shown.layers[i];
    if (i < scales.size()) L.scale = scales[i];
    auto it = host.find(static_cast<int>(i));
    const bool carried = it != host.end() && static_cast<int64_t>(it->second.size()) == shown.layout.layers[i].dims.count;
    L.values = carried ? std::move(it->second) : std::vector<float>{};  // the others stay on the GPU
    L.source = Tensor();
  }
  ensure_host_values(host_layers());  // asked for after this run was captured (a new selection)
}

std::vector<int> View::host_layers() const {
  std::vector<int> l;
  if (selection_.layer >= 0) l.push_back(selection_.layer);
  if (panels_ && panels_->focus() >= 0 && panels_->focus() != selection_.layer) l.push_back(panels_->focus());
  return l;
}

void View::ensure_host_values(const std::vector<int>& layers, bool session_held) {
  if (!device_values_) return;
  viz::Scene& shown = *scene_;
  for (int l : layers) {
    if (l < 0 || static_cast<size_t>(l) >= shown.layers.size() || shown.has_values(l)) continue;
    const viz::LayerVolume& lv = shown.layout.layers[static_cast<size_t>(l)];
    auto read = [&](const Session& ss) {
      Tensor t = viz::value_fetch(ss, viz::ValueMode::Activation)(lv.tensor.name);  // that tensor only
      host_read_bytes_ += t.nbytes();
      if (t.dtype() != DType::Float32) t = t.cast(DType::Float32);
      std::vector<float> v(t.data_as<float>(), t.data_as<float>() + std::min<int64_t>(t.numel(), lv.dims.count));
      v.resize(static_cast<size_t>(lv.dims.count), 0.0f);
      shown.layers[static_cast<size_t>(l)].values = std::move(v);
    };
    if (session_held) read(s_);  // the caller holds the session (draw_panels' when_readable)
    else with_session(read);
  }
}

std::optional<float> View::device_value(int layer, int64_t flat) {
  if (!device_values_ || layer < 0 || static_cast<size_t>(layer) >= scene_->layers.size() || scene_->has_values(layer))
    return std::nullopt;  // the host value (Renderer::pick reads the scene)
  // A window probes the pixel under the mouse every frame: the last value read stands until it moves
  // or a new result arrives (show_device_values forgets it).
  if (last_read_ && last_read_->first == std::make_pair(layer, flat)) return last_read_->second;
  std::optional<float> v;
  with_session([&](const Session& ss) {
    v = live::read_value(ss, scene_->layout.layers[static_cast<size_t>(layer)].tensor.name, flat);
  });
  host_read_bytes_ += sizeof(float);
  last_read_ = std::make_pair(std::make_pair(layer, flat), v ? *v : std::nanf(""));
  return last_read_->second;
}

bool View::set_scales(const viz::SceneOptions& opts) {
  viz::SceneOptions o = scene_->options;
  o.lo_pct = opts.lo_pct;
  o.hi_pct = opts.hi_pct;
  o.global_scale = opts.global_scale;
  if (o.same_scales(scene_->options)) return false;
  // A scene made on the GPU has no host values (CodeBuilder::read_scene): it keeps its default scales.
  for (size_t i = 0; i < scene_->layers.size(); ++i)
    if (!scene_->has_values(static_cast<int>(i))) return false;
  replace_scene(viz::rebuild_scene(std::move(*scene_), o));  // copied or borrowed values, kept so
  refresh_panels();
  return true;
}

void View::set_lod_mean(bool mean) {
  spec_.lod_mean = mean;
  make_renderer();
}

void View::select(int layer, int64_t flat) {
  ensure_host_values({layer});  // zero-copy path: the selected neuron's value is drawn in its label
  render::Selection sel;
  with_session([&](const Session& ss) { sel = render::make_selection(*scene_, layer, flat, &ss.graph(), shapes_); });
  selection_ = sel;
  contrib_shown_.clear();
  if (panels_) panels_->set_selection(selection_);
  r_->set_selection(std::move(sel));
}

void View::clear_selection() {
  selection_ = {};
  contrib_shown_.clear();
  if (panels_) panels_->set_selection(selection_);
  r_->set_selection({});
}

void View::refresh_panels() {
  if (!panels_) return;
  with_session([&](const Session& ss) {
    panels_->set_scene(ss, *scene_, partial_nodes_);  // new values: the panels' analyses are redone
    panels_->set_selection(selection_);
  });
}

void View::open_panels(const PanelSpec& p, int focus) {
  gui_ = std::make_unique<ui::ImGuiLayer>(ctx_, r_->options().height, p.window);
  with_session([&](const Session& ss) {
    panels_ = std::make_unique<ui::Panels>(*gui_, ss, *scene_);
    if (partial_nodes_ != SIZE_MAX) panels_->set_scene(ss, *scene_, partial_nodes_);  // after a cancelled run
  });
  panels_->set_input_path(p.input_path);
  if (!p.labels.empty()) panels_->set_labels(p.labels);
  if (!p.text_tokens.empty()) panels_->set_text_tokens(p.text_tokens, p.text_input);
  panels_->set_selection(selection_);
  if (p.view_settings) {
    ui::ViewSettings vs;
    vs.lod_mean = spec_.lod_mean;
    panels_->set_settings(vs);
  }
  if (focus >= 0) panels_->set_focus(focus);
}

void View::settle_panels() {
  if (!panels_) return;
  const int w = r_->options().width, h = r_->options().height;
  with_session([&](const Session&) {
    for (int i = 0; i < 2; ++i) {
      gui_->begin_frame(w, h);
      panels_->draw(w, h);
      gui_->end_frame();
    }
  });
  // The Neuron panel's top contributions, marked in 3D too.
  if (selection_.layer >= 0) r_->set_selection(ui::with_contributors(selection_, *scene_, *panels_));
  r_->set_overlay(gui_->overlay());
}

void View::draw_panels(bool shown, const std::function<bool(const std::function<void()>&)>& when_readable) {
  if (!gui_) return;
  const auto& o = r_->options();
  if (!shown) {
    r_->set_insets(0, 0);
    if (!presenter_) {
      r_->set_overlay({});
      return;
    }
    gui_->begin_frame(o.width, o.height);  // the presenter's overlay alone
    presenter_(o.width, o.height);
    gui_->end_frame();
    r_->set_overlay(gui_->overlay());
    return;
  }
  const int inset = ui::column_width(o.width, o.height);
  r_->set_insets(inset, inset);
  auto draw = [&] {
    ensure_host_values(host_layers(), /*session_held=*/true);  // zero-copy path: the panels' layer, read when shown
    gui_->begin_frame(o.width, o.height);
    panels_->draw(o.width, o.height);
    if (presenter_) presenter_(o.width, o.height);
    gui_->end_frame();
  };
  if (!when_readable(draw)) {
    r_->set_overlay(gui_->overlay());
    return;
  }
  // The Neuron panel's top contributions (computed by that draw), marked in 3D.
  if (auto cells = panels_->contributor_cells(); cells != contrib_shown_) {
    contrib_shown_ = std::move(cells);
    r_->set_selection(ui::with_contributors(selection_, *scene_, *panels_));
  }
  r_->set_overlay(gui_->overlay());
}

void View::write_panel_rects(const std::string& path) const {
  if (!panels_) return;
  nlohmann::json j;
  j["frame"] = {r_->options().width, r_->options().height};
  j["font_px"] = gui_->font_px();
  j["panels"] = nlohmann::json::array();
  for (const auto& p : panels_->rects())
    j["panels"].push_back({{"name", p.name}, {"x", p.x}, {"y", p.y}, {"w", p.w}, {"h", p.h}});
  std::ofstream f(path);
  if (!f || !(f << j.dump(1) << "\n")) throw Error(ErrorKind::Io, "cannot write '" + path + "'");
}

}  // namespace netlens::app
