// Dear ImGui on the renderer's Vulkan context: the ImGui context, its Vulkan backend (1.86, render
// pass based) drawing over the renderer's colour image through Renderer::set_overlay, the font
// (DejaVu Sans sized to the frame height, so text stays crisp at 1080p and on HiDPI windows), and
// RGBA textures for image items (feature maps: one texel per neuron).
//
// Contract: one ImGuiLayer per process at a time (ImGui keeps a global current context). Everything
// runs on one thread: begin_frame() ... ImGui calls ... end_frame(), then the renderer's next
// render() records that frame through overlay(). Textures uploaded during a frame are ready when it
// is recorded (uploads wait for their own one-shot submission). Textures and the layer must be
// destroyed before the Context closes; the renderer's render() waits for its frame, so a texture may
// be replaced or freed between frames. With a window, ImGui's GLFW backend is installed with its
// callbacks chained: the window's own callbacks still run (check wants_mouse()/wants_keyboard()).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <cfloat>

#include <imgui.h>

#include "netlens/render/context.hpp"
#include "netlens/render/renderer.hpp"

struct GLFWwindow;

namespace netlens::ui {

// Font pixel size for a frame `height` pixels tall (about 54 lines of text per frame height).
float font_px_for_height(int height);

class ImGuiLayer {
 public:
  // `window`: nullptr for offscreen frames (begin_frame then takes the display size). `format`: the
  // renderer's colour format (RGBA8 UNORM holding sRGB-encoded values: ImGui colours go in as they are).
  ImGuiLayer(render::Context& ctx, int frame_height, GLFWwindow* window = nullptr,
             VkFormat format = VK_FORMAT_R8G8B8A8_UNORM);
  ~ImGuiLayer();
  ImGuiLayer(const ImGuiLayer&) = delete;
  ImGuiLayer& operator=(const ImGuiLayer&) = delete;

  // Starts an ImGui frame of width×height framebuffer pixels (offscreen: the display size; with a
  // window the GLFW backend measures it and these only choose the font). A frame height in another
  // font size bucket rebuilds the font atlas first. dt: seconds since the previous frame.
  void begin_frame(int width, int height, double dt = 1.0 / 60.0);
  void end_frame();  // ImGui::Render(): the frame is then what overlay() records
  // Offscreen frames: the mouse the next begin_frame() reports to ImGui (frame pixels; a press is
  // a frame with `left_down` after one without). Windows use the GLFW backend instead.
  void set_mouse(ImVec2 pos, bool left_down);

  // For Renderer::set_overlay: records the last ended frame over the target image.
  render::OverlayFn overlay();
  void record(VkCommandBuffer cmd, const render::OverlayTarget& t);

  // RGBA8 textures (sRGB-encoded values), one texel per neuron: magnified with nearest sampling (a
  // neuron stays one crisp block), minified trilinearly over a mip chain (no aliasing).
  // `replace` ≥ 0 frees that texture first (same id reused). Returns the texture id.
  int upload_texture(int w, int h, const std::vector<uint8_t>& rgba, int replace = -1);
  void free_texture(int id);
  ImVec2 texture_size(int id) const;
  // Draws texture `id` into [p0, p1) of `dl` (a draw callback: ImGui 1.86's Vulkan backend binds
  // only its font, so image items are drawn by this layer's own pipeline).
  void add_image(ImDrawList* dl, int id, ImVec2 p0, ImVec2 p1, ImVec2 uv0 = {0, 0}, ImVec2 uv1 = {1, 1});
  // An image item in the current window (layout, hover) of size `size`.
  void image(int id, ImVec2 size, ImVec2 uv0 = {0, 0}, ImVec2 uv1 = {1, 1});

  bool wants_mouse() const;
  bool wants_keyboard() const;
  float font_px() const { return font_px_; }
  // Frame pixels per ImGui unit (HiDPI windows: > 1).
  float pixel_scale() const { return pixel_scale_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  float font_px_ = 16.0f, pixel_scale_ = 1.0f;
  ImVec2 mouse_{-FLT_MAX, -FLT_MAX};
  bool mouse_down_ = false;
};

}  // namespace netlens::ui
