// netlens explain: why did the model decide that? One attribution method for one target, written as
// DIR/heatmap.png (the heat over the input), DIR/heatmap.npy (float32, input H×W) and
// DIR/summary.json (target, method and its parameters, prediction, IG completeness, Grad-CAM's top
// channels, gradient flow). Errors are one line on stderr (main.cpp), exit 2 for usage, 1 otherwise.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "netlens/cli/common.hpp"
#include "netlens/cli/gradients.hpp"

namespace netlens::cli {
namespace {

using nlohmann::json;

// The attributed input's file (the one of --input that feeds it).
std::string input_file(const ModelOptions& o, const std::string& input_name) {
  for (const std::string& spec : o.inputs) {
    const size_t eq = spec.find('=');
    if (eq != std::string::npos && spec.substr(0, eq) == input_name) return spec.substr(eq + 1);
  }
  return o.inputs.size() == 1 ? o.inputs[0] : "";
}

// The picture under the heat: the image file resized to the input's H×W the way the model saw it,
// or the input tensor itself scaled to 0..255 (1 or 3 channels); empty (grey) otherwise.
std::vector<uint8_t> background(const std::string& file, const Tensor& x, const explain::InputLayout& l, bool bgr) {
  const size_t n = static_cast<size_t>(l.height * l.width);
  std::vector<uint8_t> rgb;
  if (!file.empty() && input_kind(file) == InputKind::Image) {
    ImagePreprocess pp;
    pp.width = static_cast<int>(l.width);
    pp.height = static_cast<int>(l.height);
    pp.scale = 1.0f;
    const Tensor img = load_image(file, pp);  // 1x3xHxW, 0..255 RGB
    const float* p = img.data_as<float>();
    rgb.resize(3 * n);
    for (size_t i = 0; i < n; ++i)
      for (size_t c = 0; c < 3; ++c) rgb[3 * i + c] = static_cast<uint8_t>(std::clamp(p[c * n + i], 0.0f, 255.0f));
    return rgb;
  }
  if (l.channels != 1 && l.channels != 3) return rgb;
  const std::vector<float> v = x.to_f32_vector();
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  const float range = *hi > *lo ? *hi - *lo : 1.0f;
  rgb.resize(3 * n);
  for (int64_t y = 0; y < l.height; ++y)
    for (int64_t xx = 0; xx < l.width; ++xx)
      for (int64_t c = 0; c < 3; ++c) {
        int64_t src = l.channels == 1 ? 0 : (bgr ? 2 - c : c);
        const float f = (v[static_cast<size_t>(l.offset(src, y, xx))] - *lo) / range;
        rgb[static_cast<size_t>(3 * (y * l.width + xx) + c)] = static_cast<uint8_t>(std::lround(255.0f * f));
      }
  return rgb;
}

json method_parameters(const explain::Explanation& e, const explain::MethodOptions& mo) {
  using M = explain::Method;
  switch (e.method) {
    case M::Saliency: return {{"reduction", "max over channels of |dS/dx|"}};
    case M::GradXInput: return {{"reduction", "sum over channels of x * dS/dx"}};
    case M::SmoothGrad:
      return {{"samples", e.samples}, {"sigma", e.sigma}, {"seed", mo.seed},
              {"noise", "normal(0, sigma) added to the model input"},
              {"reduction", "max over channels of |mean gradient|"}};
    case M::IntegratedGradients:
      return {{"steps", e.steps},
              {"rule", e.rule == explain::IgRule::Midpoint ? "riemann-midpoint" : "trapezoid"},
              {"baseline", e.baseline == "zeros" ? "zeros in the model's input space" : "given (--baseline)"},
              {"reduction", "sum over channels of the attribution"}};
    case M::Occlusion:
      return {{"patch", e.patch}, {"stride", e.stride}, {"value", e.occlusion_value},
              {"heat", "mean over the windows covering a pixel of S(x) - S(x occluded)"}};
    case M::GradCam:
    case M::GradCamPlusPlus:
      return {{"weights", e.method == M::GradCam ? "mean gradient per channel"
                                                 : "sum over the grid of relu(G) * G^2 / (2 G^2 + sum(A) G^3 + 1e-6)"},
              {"upsampling", "bilinear, half-pixel centres"}};
    case M::HiResCam:
      return {{"cam", "relu(sum over channels of G * A) per grid cell (no averaging of G)"},
              {"upsampling", "bilinear, half-pixel centres"}};
  }
  return json::object();
}

int run_explain(const std::vector<std::string>& argv) {
  std::vector<std::string> flags = kModelFlags;
  flags.insert(flags.end(), kTargetFlags.begin(), kTargetFlags.end());
  flags.insert(flags.end(), {"method", "layer", "out", "samples", "sigma", "steps", "rule", "baseline", "patch",
                             "stride", "seed", "top"});
  Args a(argv, flags, kModelBoolFlags, kModelRepeated);
  ModelOptions o = parse_model_options(a);
  if (o.inputs.empty()) throw Error(ErrorKind::Usage, "missing --input FILE");
  const auto out = a.get("out");
  if (!out) throw Error(ErrorKind::Usage, "missing --out DIR");
  explain::MethodOptions mo;
  mo.method = explain::parse_method(a.get_or("method", "saliency"));
  mo.layer = a.get_or("layer", "");
  if (!mo.layer.empty() && !explain::is_cam(mo.method))
    throw Error(ErrorKind::Usage, "--layer is for --method gradcam, gradcam++ or hirescam");
  mo.smoothgrad_samples = static_cast<int>(a.get_int("samples", 25));
  mo.smoothgrad_sigma = a.get_double("sigma", -1);
  mo.ig_steps = static_cast<int>(a.get_int("steps", 32));
  const std::string rule = a.get_or("rule", "midpoint");
  if (rule != "midpoint" && rule != "trapezoid") throw Error(ErrorKind::Usage, "--rule must be midpoint or trapezoid");
  mo.ig_rule = rule == "midpoint" ? explain::IgRule::Midpoint : explain::IgRule::Trapezoid;
  if (auto b = a.get("baseline")) mo.baseline = read_npy(*b).cast(DType::Float32);
  mo.patch = a.get_int("patch", 0);
  mo.stride = a.get_int("stride", 0);
  mo.seed = static_cast<uint32_t>(a.get_int("seed", 1));
  const int64_t top = a.get_int("top", 10);
  if (mo.smoothgrad_samples < 1 || mo.smoothgrad_samples > 10000) throw Error(ErrorKind::Usage, "--samples must be 1..10000");
  if (mo.ig_steps < 1 || mo.ig_steps > 10000) throw Error(ErrorKind::Usage, "--steps must be 1..10000");
  if (mo.patch < 0 || mo.stride < 0) throw Error(ErrorKind::Usage, "--patch and --stride must be > 0");
  if (top < 0) throw Error(ErrorKind::Usage, "--top must be >= 0");
  const explain::TargetSpec spec = target_spec_from_flags(a);
  const std::vector<std::string> labels = labels_from_flags(a);

  LoadedModel m = load_model(o, true);
  Session& s = *m.session;
  const explain::InputLayout layout = explain::input_layout(s);
  const auto t0 = std::chrono::steady_clock::now();
  run_once(m);
  const explain::Target target = explain::resolve_target(s, spec, labels);
  const std::optional<explain::Prediction> pred = explain::top_prediction(s, labels);
  if (mo.method == explain::Method::Occlusion && !o.quiet) {
    const explain::OcclusionGrid g = explain::occlusion_grid(layout, mo);
    std::fprintf(stderr, "netlens: occlusion: %lld windows of %lld px, stride %lld: %lld forward runs\n",
                 static_cast<long long>(g.windows()), static_cast<long long>(g.patch), static_cast<long long>(g.stride),
                 static_cast<long long>(g.windows() + 2));
  }
  const explain::Explanation e = explain::explain(s, m.inputs, target, mo);
  // The flow of the target at the input (occlusion ran forward only: differentiate once for it).
  json flow = nullptr;
  std::string flow_missing;
  try {
    if (mo.method == explain::Method::Occlusion) s.backward(target.seeds(s));
    flow = to_json(explain::gradient_flow(s, target.tensor), false);
  } catch (const Error& err) {
    if (err.kind() != ErrorKind::Unsupported) throw;
    flow_missing = err.what();
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  std::filesystem::create_directories(*out);
  const std::string dir = *out;
  const Tensor heat = Tensor::from_f32({e.heat.height, e.heat.width}, e.heat.values);
  write_npy(dir + "/heatmap.npy", heat);
  const std::string file = input_file(o, layout.name);
  explain::write_png_rgb(dir + "/heatmap.png", e.heat.width, e.heat.height,
                         explain::overlay(e.heat, background(file, m.inputs.at(layout.name), layout, o.pp.bgr)));

  json j;
  j["model"] = o.model;
  j["input"] = {{"name", layout.name}, {"file", file}, {"layout", layout.nhwc ? "nhwc" : "nchw"},
                {"channels", layout.channels}, {"height", layout.height}, {"width", layout.width}};
  j["target"] = to_json(target, e.target_value);
  if (pred)
    j["prediction"] = {{"tensor", pred->tensor}, {"class", pred->cls}, {"label", pred->label}, {"logit", pred->logit},
                       {"probability", pred->probability}, {"softmax_applied", pred->softmax_applied}};
  else
    j["prediction"] = nullptr;
  j["method"] = {{"name", explain::method_name(e.method)}, {"parameters", method_parameters(e, mo)}};
  auto [lo, hi] = std::minmax_element(e.heat.values.begin(), e.heat.values.end());
  j["heatmap"] = {{"png", "heatmap.png"}, {"npy", "heatmap.npy"}, {"height", e.heat.height}, {"width", e.heat.width},
                  {"signed", e.heat.signed_values}, {"min", *lo}, {"max", *hi},
                  {"png_scale", e.heat.signed_values ? "|heat| / its 99.5th percentile = t; red > 0, blue < 0, opacity 0.8 t over the input"
                                                      : "|heat| / its 99.5th percentile, jet, blended 50% over the input"}};
  if (e.method == explain::Method::IntegratedGradients)
    j["completeness"] = {{"attribution_sum", e.attribution_sum}, {"target_value", e.target_value},
                         {"baseline_value", e.baseline_value}, {"relative_error", e.completeness_error},
                         {"rule", "|sum(attr) - (S(x) - S(baseline))| / |S(x) - S(baseline)|"}};
  if (explain::is_cam(e.method)) {
    j["layer"] = {{"tensor", e.layer.tensor}, {"kind", e.layer.tokens ? "tokens" : "nchw"}, {"channels", e.layer.channels},
                  {"grid", {e.layer.h, e.layer.w}}, {"class_token", e.layer.class_token},
                  {"chosen", mo.layer.empty() ? "default: the last spatial layer with a gradient" : "--layer"}};
    if (e.layer.tokens) j["layer"]["patch"] = e.layer.patch;
    json ch = json::array();
    for (size_t k = 0; k < e.channels.size() && k < static_cast<size_t>(top); ++k)
      ch.push_back({{"channel", e.channels[k].channel}, {"importance", e.channels[k].importance},
                    {"mean_gradient", e.channels[k].weight}});
    j["top_channels"] = ch;
  } else {
    j["layer"] = nullptr;
  }
  j["gradient_flow"] = flow;
  if (!flow_missing.empty()) j["gradient_flow_missing"] = flow_missing;
  j["runs"] = {{"forward", e.forward_runs}, {"backward", e.backward_runs}};
  j["timing_ms"] = {{"load", m.load_ms}, {"prepare", m.prepare_ms}, {"explain", ms}};
  std::ofstream f(dir + "/summary.json");
  f << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  if (!f) throw Error(ErrorKind::Io, dir + "/summary.json: cannot write");

  std::printf("target     %s = %.6g\n", target.description.c_str(), e.target_value);
  if (pred)
    std::printf("predicted  class %lld%s  p=%.4f\n", static_cast<long long>(pred->cls),
                pred->label.empty() ? "" : (" (" + pred->label + ")").c_str(), pred->probability);
  std::printf("method     %s", explain::method_name(e.method).c_str());
  if (explain::is_cam(e.method))
    std::printf(" on '%s' (%lldx%lld%s)", e.layer.tensor.c_str(), static_cast<long long>(e.layer.h),
                static_cast<long long>(e.layer.w), e.layer.tokens ? " tokens" : "");
  if (e.method == explain::Method::IntegratedGradients)
    std::printf(", completeness error %.3g (relative)", e.completeness_error);
  std::printf("\nwrote      %s/heatmap.png, heatmap.npy, summary.json (%.0f ms, %d forward, %d backward)\n", dir.c_str(), ms,
              e.forward_runs, e.backward_runs);
  return 0;
}

NETLENS_COMMAND("explain",
                "explain MODEL --input FILE --out DIR [--target class:N|class:LABEL|loss:N|output:TENSOR[:i,j,...]|"
                "region:TENSOR:x0,y0,x1,y1[:C]|ctc[:TENSOR][:T]|char:[TENSOR:]K] [--score logit|prob] [--labels FILE] "
                "[--method saliency|gradxinput|smoothgrad|ig|gradcam|gradcam++|hirescam|occlusion] [--layer NAME] "
                "[--samples N --sigma S --seed N] [--steps N --rule midpoint|trapezoid --baseline FILE.npy] "
                "[--patch P --stride S] [--top K] [model flags] (docs/explain.md)",
                "why did the model decide that: a heat map over the input (saliency, gradient x input, SmoothGrad, "
                "integrated gradients, Grad-CAM(++), occlusion) with a JSON summary",
                run_explain);

}  // namespace
}  // namespace netlens::cli
