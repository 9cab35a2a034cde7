// The draw scale of the window's 3D scene while a model runs (Viewer::choose_draw_scale): on a CPU
// Vulkan the rasteriser pays per pixel, so when frames miss the 33 ms budget the scene is drawn at a
// reduced size (render::Renderer::set_render_scale) and scaled up; text and panels stay full size.
#pragma once

#include <span>

namespace netlens::app {

class DrawScaleController {
 public:
  // The levels (each ~1.4x fewer pixels than the one above, so the reduced targets are remade rarely).
  static constexpr float kLevels[] = {1.0f, 0.84f, 0.71f, 0.6f, 0.5f};
  static constexpr int kTop = 4;       // the smallest level's index
  static constexpr int kWindow = 6;    // frames per decision: their median
  static constexpr double kBudgetMs = 1000.0 / 30.0;

  // The scale for the next frame, given every frame time so far (the last kWindow are used).
  // Down when the median is above 1.1x the budget: at once to the first level whose pixel count,
  // scaled from the median (frame time taken as proportional to the pixels drawn), meets the budget
  // (kTop at most). Part of a frame does not scale with its pixels, so the estimate overrates the
  // gain: the step never goes further than needed, and the next decision goes on if it was short.
  // Up one level when the median scaled by the pixel ratio of the level above stays under 0.8x the
  // budget (an estimate that overrates the cost: no flicker between two levels). After a change the
  // level holds for kWindow frames, so the next median sees the new level's frames only.
  float next(std::span<const double> frame_ms);
  void reset() { level_ = hold_ = 0; }  // back to scale 1 (no run in flight)
  int level() const { return level_; }

 private:
  int level_ = 0, hold_ = 0;
};

}  // namespace netlens::app
