// Grad-CAM, Grad-CAM++ and channel importance over a convolutional or token layer; the token grid
// of a transformer found from the model (the patch-embedding Conv), never from a user's reshape.
#include <algorithm>
#include <cmath>
#include <optional>

#include "explain_util.hpp"
#include "netlens/explain.hpp"

namespace netlens::explain {

float LayerGrid::at(const float* data, int64_t c, int64_t y, int64_t x) const {
  if (!tokens) return data[(c * h + y) * w + x];
  const int64_t tok = (class_token ? 1 : 0) + y * w + x;
  return data[tok * channels + c];
}

namespace {

// The patch-embedding Conv: the first Conv in node order whose strides equal its kernel (> 1), with
// its output's channels and grid.
struct PatchEmbed {
  int64_t patch = 0, dim = 0, h = 0, w = 0;
};
std::optional<PatchEmbed> patch_embed(const Session& s) {
  for (const Node& n : s.graph().nodes) {
    if (n.op_type != "Conv" || n.outputs.empty() || !s.activations().contains(n.outputs[0])) continue;
    std::vector<int64_t> kv = n.attr_ints("kernel_shape");
    const std::vector<int64_t> sv = n.attr_ints("strides");
    if (kv.empty() && n.has_input(1)) {  // kernel_shape is optional: the weight's spatial dims
      const Shape& wd = s.info(n.inputs[1]).shape;
      if (wd.size() == 4) kv = {wd[2], wd[3]};
    }
    if (kv.size() != 2 || kv != sv || kv[0] != kv[1] || kv[0] <= 1) continue;
    const Shape& o = s.info(n.outputs[0]).shape;
    if (o.size() != 4) continue;
    return PatchEmbed{kv[0], o[1], o[2], o[3]};
  }
  return std::nullopt;
}

std::string resolve_name(const Session& s, const std::string& name) {
  if (s.activations().contains(name)) return name;
  if (s.graph().initializers.count(name))
    throw Error(ErrorKind::Usage, "--layer: '" + name + "' is a weight of the model, not a layer's output");
  for (const Node& n : s.graph().nodes)
    if (n.name == name && !n.outputs.empty()) return n.outputs[0];
  throw Error(ErrorKind::Usage, "--layer: no tensor or node named '" + name + "' in the model");
}

// The grid of a tensor, or why not.
std::optional<LayerGrid> try_grid(const Session& s, const std::string& tensor, const std::optional<PatchEmbed>& pe,
                                  std::string* why) {
  const PlannedTensor* p = s.activations().find(tensor);
  const Shape& d = p->info.shape;
  LayerGrid g;
  g.tensor = tensor;
  if (p->constant || !is_float(p->info.dtype)) {
    if (why) *why = "it is not a computed float tensor";
    return std::nullopt;
  }
  if (d.size() == 4) {
    if (d[0] != 1 || d[2] * d[3] <= 1) {
      if (why) *why = "a convolutional layer is [1, C, H, W] with H·W > 1, this is " + shape_str(d);
      return std::nullopt;
    }
    g.channels = d[1], g.h = d[2], g.w = d[3];
    return g;
  }
  if (d.size() == 3 && (d[0] == 1 || d[1] == 1)) {
    const int64_t T = d[0] == 1 ? d[1] : d[0];
    g.tokens = true;
    g.channels = d[2];
    // Grid from the patch-embedding Conv, else from any [1, C, h, w] tensor of the model.
    std::vector<std::pair<int64_t, int64_t>> grids;
    if (pe) grids.push_back({pe->h, pe->w});
    if (!pe)
      for (const PlannedTensor& q : s.planned())
        if (q.info.shape.size() == 4 && q.info.shape[0] == 1 && q.info.shape[2] * q.info.shape[3] > 1)
          grids.push_back({q.info.shape[2], q.info.shape[3]});
    for (const auto& [h, w] : grids) {
      if (h * w == T || h * w + 1 == T) {
        g.h = h, g.w = w;
        g.class_token = h * w + 1 == T;
        g.patch = pe ? pe->patch : 0;
        return g;
      }
    }
    if (why)
      *why = "a token layer of " + std::to_string(T) + " tokens, but no grid h·w = T or 1 + h·w was found" +
             (pe ? " (the patch embedding gives " + std::to_string(pe->h) + "x" + std::to_string(pe->w) + ")" : "");
    return std::nullopt;
  }
  if (why) *why = "it is " + shape_str(d) + ", neither [1, C, H, W] nor tokens [1, T, D]";
  return std::nullopt;
}

}  // namespace

LayerGrid layer_grid(const Session& s, const std::string& tensor_or_node) {
  const std::string t = resolve_name(s, tensor_or_node);
  std::string why;
  auto g = try_grid(s, t, patch_embed(s), &why);
  if (!g) throw Error(ErrorKind::Usage, "layer '" + t + "' has no spatial grid: " + why);
  return *g;
}

std::string default_cam_layer(const Session& s) {
  if (!s.has_gradients()) throw Error(ErrorKind::Usage, "the default Grad-CAM layer is chosen from gradients: run backward first");
  const auto pe = patch_embed(s);
  // Tensors that rearrange heads or hold attention are not feature maps: their dims are not space.
  static const std::vector<std::string> kNotSpatial = {"Transpose", "Reshape", "MatMul", "Softmax", "Einsum", "Gather",
                                                       "Split", "Slice", "Concat"};
  std::string best;
  for (const Node& n : s.graph().nodes) {
    const bool rearranging = std::find(kNotSpatial.begin(), kNotSpatial.end(), n.op_type) != kNotSpatial.end();
    for (const std::string& o : n.outputs) {
      if (o.empty() || !s.activations().contains(o) || !s.gradients().contains(o)) continue;
      auto g = try_grid(s, o, pe, nullptr);
      if (!g || g->channels <= 1) continue;
      if (rearranging) continue;  // heads, Q/K/V slices, attention maps: not the layer's features
      if (g->tokens && pe && g->channels != pe->dim) continue;  // token layers of the embedding width only
      const std::vector<float> gv = detail::values(s.gradients(), o);
      bool nonzero = false;
      for (int64_t c = 0; c < g->channels && !nonzero; ++c)
        for (int64_t y = 0; y < g->h && !nonzero; ++y)
          for (int64_t x = 0; x < g->w && !nonzero; ++x) nonzero = g->at(gv.data(), c, y, x) != 0.0f;
      if (nonzero) best = o;
    }
  }
  if (best.empty())
    throw Error(ErrorKind::Usage, "no spatial layer ([1, C, H, W] or tokens) that the target depends on: name one with --layer");
  return best;
}

std::vector<ChannelScore> channel_importance(const Session& s, const LayerGrid& g) {
  const std::vector<float> a = detail::values(s.activations(), g.tensor);
  const std::vector<float> gr = detail::values(s.gradients(), g.tensor);
  std::vector<ChannelScore> out;
  const double n = static_cast<double>(g.h * g.w);
  for (int64_t c = 0; c < g.channels; ++c) {
    double ga = 0, gs = 0;
    for (int64_t y = 0; y < g.h; ++y)
      for (int64_t x = 0; x < g.w; ++x) {
        const double gv = g.at(gr.data(), c, y, x);
        ga += gv * g.at(a.data(), c, y, x);
        gs += gv;
      }
    out.push_back({c, ga / n, gs / n});
  }
  std::stable_sort(out.begin(), out.end(), [](const ChannelScore& p, const ChannelScore& q) { return p.importance > q.importance; });
  return out;
}

Heatmap grad_cam(const Session& s, const LayerGrid& g, bool plus_plus, int64_t out_h, int64_t out_w,
                 std::vector<float>* grid_cam, std::vector<ChannelScore>* weights) {
  const std::vector<float> a = detail::values(s.activations(), g.tensor);
  const std::vector<float> gr = detail::values(s.gradients(), g.tensor);
  const double n = static_cast<double>(g.h * g.w);
  std::vector<double> w(static_cast<size_t>(g.channels), 0.0);
  for (int64_t c = 0; c < g.channels; ++c) {
    double acc = 0;
    if (!plus_plus) {
      for (int64_t y = 0; y < g.h; ++y)
        for (int64_t x = 0; x < g.w; ++x) acc += g.at(gr.data(), c, y, x);
      acc /= n;
    } else {
      // Grad-CAM++ (Chattopadhyay et al. 2018, exponential-output closed form, ε = 1e-6 as in the
      // common implementations): α = G² / (2G² + Σ_grid A · G³), w = Σ_grid relu(G) · α.
      double sum_a = 0;
      for (int64_t y = 0; y < g.h; ++y)
        for (int64_t x = 0; x < g.w; ++x) sum_a += g.at(a.data(), c, y, x);
      for (int64_t y = 0; y < g.h; ++y)
        for (int64_t x = 0; x < g.w; ++x) {
          const double G = g.at(gr.data(), c, y, x);
          if (G == 0) continue;
          const double G2 = G * G;
          const double alpha = G2 / (2 * G2 + sum_a * G2 * G + 1e-6);
          acc += std::max(G, 0.0) * alpha;
        }
    }
    w[static_cast<size_t>(c)] = acc;
  }
  std::vector<float> cam(static_cast<size_t>(g.h * g.w), 0.0f);
  for (int64_t y = 0; y < g.h; ++y)
    for (int64_t x = 0; x < g.w; ++x) {
      double v = 0;
      for (int64_t c = 0; c < g.channels; ++c) v += w[static_cast<size_t>(c)] * g.at(a.data(), c, y, x);
      cam[static_cast<size_t>(y * g.w + x)] = static_cast<float>(std::max(v, 0.0));
    }
  if (grid_cam) *grid_cam = cam;
  if (weights) {
    weights->clear();
    for (int64_t c = 0; c < g.channels; ++c) weights->push_back({c, 0.0, w[static_cast<size_t>(c)]});
  }
  Heatmap h;
  h.height = out_h;
  h.width = out_w;
  h.values = resize_bilinear(cam, g.h, g.w, out_h, out_w);
  return h;
}

Heatmap hires_cam(const Session& s, const LayerGrid& g, int64_t out_h, int64_t out_w, std::vector<float>* grid_cam) {
  const std::vector<float> a = detail::values(s.activations(), g.tensor);
  const std::vector<float> gr = detail::values(s.gradients(), g.tensor);
  std::vector<float> cam(static_cast<size_t>(g.h * g.w), 0.0f);
  for (int64_t y = 0; y < g.h; ++y)
    for (int64_t x = 0; x < g.w; ++x) {
      double v = 0;
      for (int64_t c = 0; c < g.channels; ++c) v += static_cast<double>(g.at(gr.data(), c, y, x)) * g.at(a.data(), c, y, x);
      cam[static_cast<size_t>(y * g.w + x)] = static_cast<float>(std::max(v, 0.0));
    }
  if (grid_cam) *grid_cam = cam;
  Heatmap h;
  h.height = out_h;
  h.width = out_w;
  h.values = resize_bilinear(cam, g.h, g.w, out_h, out_w);
  return h;
}

}  // namespace netlens::explain
