#include "live_start.hpp"

#include <utility>

namespace netlens::cli {

LiveStart::LiveStart(ModelOptions& mo, Graph g, live::LiveInput& in, const std::string& interop, bool validation,
                     const render::ContextOptions* window) {
  mo.input_shapes[in.input_name] = in.first_tensor.shape();
  std::string interop_why = interop == "off" ? "--interop off" : "";
  if (interop != "off" && mo.backend != "cpu") interop_ = live::make_interop_path(interop, validation, &interop_why, window);
  if (interop_) mo.arena_allocator = interop_->arena_allocator();
  model_ = worker_.call([&] {
    LoadedModel lm = load_model(mo, /*need_inputs=*/true, std::move(g));
    lm.inputs[in.input_name] = in.first_tensor;
    run_once(lm);
    return lm;
  });
  if (interop_ && model_.backends.front()->name() != "cuda") {
    interop_.reset();  // never attached: nothing to release
    interop_why = "the CUDA backend is not in use";
  }
  // Live runs are silent: a progress line on the terminal per input would fight the live output.
  *model_.run_progress = Progress("running node", /*quiet=*/true);
  if (interop_) {
    interop_->attach(*model_.backends.front());
    uploader_ = &interop_->uploader();
    line_ = "live: cuda backend + " + uploader_->name();
  } else {
    staging_ = live::make_uploader(interop, model_.backends.front()->name(),
                                   mo.backend == "cpu" ? "--backend cpu" : "no usable CUDA device", &line_, interop_why);
    uploader_ = staging_.get();
  }
}

LiveStart::~LiveStart() {
  staging_.reset();
  if (interop_) interop_->release();
}

live::LiveConfig LiveStart::config(const live::LiveInput& in) const {
  live::LiveConfig cfg;
  cfg.input_name = in.input_name;
  cfg.input_dtype = in.first_tensor.dtype();
  cfg.pp = in.pp;
  cfg.other_inputs = model_.inputs;
  cfg.other_inputs.erase(in.input_name);
  cfg.uploader = uploader_;
  return cfg;
}

}  // namespace netlens::cli
