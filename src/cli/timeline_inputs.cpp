// The probe and evaluation flags the timeline commands share (timeline_inputs.hpp).
#include "timeline_inputs.hpp"

#include <filesystem>

#include "netlens/cli/common.hpp"
#include "netlens/io.hpp"

namespace netlens::cli {
namespace {

namespace tl = netlens::timeline;

}  // namespace

const std::vector<std::string> kTimelineFlags = {"input", "label", "labels", "eval", "graph", "backend",
                                                 "mean",  "std",   "scale",  "eval-batch"};

TimelineInputs read_timeline_inputs(const Args& a, const Graph& g) {
  if (!a.has("input")) throw Error(ErrorKind::Usage, "timeline: --input FILE (the probe: .npy or an image) is required");
  if (g.inputs.empty()) throw Error(ErrorKind::Model, "timeline: the model has no inputs");
  const ValueInfo& vi = g.inputs[0];
  ImagePreprocess pp;
  pp.mean = {0.0f};
  pp.std = {1.0f};
  if (auto v = a.get("mean")) pp.mean = parse_floats("mean", *v);
  if (auto v = a.get("std")) pp.std = parse_floats("std", *v);
  if (auto v = a.get("scale")) pp.scale = parse_floats("scale", *v).at(0);
  TimelineInputs r;
  const std::string in = *a.get("input");
  if (!std::filesystem::exists(in)) throw Error(ErrorKind::Io, in + ": no such file");
  Tensor x = input_kind(in) == InputKind::Npy ? read_npy(in) : load_image(in, image_preprocess_for(vi, {}, pp, false));
  r.probe.inputs[vi.name] = x.dtype() == vi.dtype ? x : x.cast(vi.dtype);
  const int64_t batch = x.rank() >= 1 ? x.dim(0) : 1;
  if (a.has("label") && a.has("labels")) throw Error(ErrorKind::Usage, "timeline: give --label or --labels, not both");
  if (a.has("label")) r.probe.labels.assign(static_cast<size_t>(batch), a.get_int("label", 0));
  if (auto f = a.get("labels")) {
    r.probe.labels = read_npy(*f).to_i64_vector();
    if (static_cast<int64_t>(r.probe.labels.size()) != batch)
      throw Error(ErrorKind::Usage, "--labels: " + std::to_string(r.probe.labels.size()) + " labels for a probe batch of " +
                                        std::to_string(batch));
  }
  if (auto d = a.get("eval")) r.eval = tl::load_eval_dir(*d, vi, pp);
  return r;
}

}  // namespace netlens::cli
