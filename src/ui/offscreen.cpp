#include "offscreen.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include "imgui_layer.hpp"
#include "panels.hpp"
#include "predictions.hpp"

namespace netlens::ui {

namespace {

class PanelDecoration final : public render::FrameDecoration {
 public:
  PanelDecoration(const Session& s, std::string input, std::string rects, std::vector<std::string> labels)
      : s_(s), input_(std::move(input)), rects_path_(std::move(rects)), labels_(std::move(labels)) {}

  int inset(int w, int h) const override { return column_width(w, h); }

  void attach(render::Context& ctx, render::Renderer& r, const viz::Scene& scene, const render::Selection& sel,
              int focus) override {
    w_ = r.options().width;
    h_ = r.options().height;
    layer_ = std::make_unique<ImGuiLayer>(ctx, h_);
    panels_ = std::make_unique<Panels>(*layer_, s_, scene);
    panels_->set_input_path(input_);
    panels_->set_labels(labels_);
    if (sel.layer >= 0) panels_->set_selection(sel);
    // The inspected layer: --view layer:NAME, else the selection's, else the first after the input.
    int f = focus >= 0 ? focus : sel.layer >= 0 ? sel.layer : (scene.layout.layers.size() > 1 ? 1 : 0);
    panels_->set_focus(f);
    // Two frames: the first sizes what ImGui measures (scroll positions, item widths).
    for (int i = 0; i < 2; ++i) {
      layer_->begin_frame(w_, h_);
      panels_->draw(w_, h_);
      layer_->end_frame();
    }
    // The Neuron panel's top contributions, marked in 3D too.
    if (sel.layer >= 0) r.set_selection(with_contributors(sel, scene, *panels_));
    r.set_overlay(layer_->overlay());
  }

  void finish() override {
    if (rects_path_.empty() || !panels_) return;
    nlohmann::json j;
    j["frame"] = {w_, h_};
    j["font_px"] = layer_->font_px();
    j["panels"] = nlohmann::json::array();
    for (const auto& p : panels_->rects())
      j["panels"].push_back({{"name", p.name}, {"x", p.x}, {"y", p.y}, {"w", p.w}, {"h", p.h}});
    std::ofstream f(rects_path_);
    if (!f || !(f << j.dump(1) << "\n")) throw Error(ErrorKind::Io, "cannot write '" + rects_path_ + "'");
  }

  void detach() override {
    panels_.reset();
    layer_.reset();
  }

 private:
  const Session& s_;
  std::string input_, rects_path_;
  std::vector<std::string> labels_;
  int w_ = 0, h_ = 0;
  std::unique_ptr<ImGuiLayer> layer_;
  std::unique_ptr<Panels> panels_;
};

}  // namespace

std::shared_ptr<render::FrameDecoration> panel_decoration(const Session& s, const std::string& input_path,
                                                         const std::string& rects_json, const std::string& labels) {
  return std::make_shared<PanelDecoration>(s, input_path, rects_json,
                                           labels.empty() ? std::vector<std::string>{} : inspect::read_labels(labels));
}

}  // namespace netlens::ui
