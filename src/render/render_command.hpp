// The `netlens render` work, independent of the CLI's flag parsing: given a session that has run,
// lay out its tensors, render one frame offscreen, write the PNG and answer a pick.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "netlens/runtime.hpp"
#include "renderer.hpp"

namespace netlens::render {

struct RenderArgs {
  std::string out = "frame.png";
  int width = 1920, height = 1080;
  std::string camera_file;       // --camera cam.json
  std::string view = "overview"; // overview | layer:NAME
  std::string select;            // TENSOR:INDEX (flat index in batch 0, or c,y,x)
  std::optional<std::pair<int, int>> pick;  // --pick X,Y
  std::string save_camera;       // --save-camera FILE: the camera used, as JSON
  int gpu = -1;
  bool validation = false;       // require validation layers (always on in debug builds)
  bool lod_mean = false;
  std::string title;
  int frames = 0;                // --frames N: render N more frames, print their times on stderr
};

// "1920x1080" → (w, h); "X,Y" → (x, y). Error{Usage} naming the flag on bad text.
std::pair<int, int> parse_size(const std::string& text, const std::string& flag);
std::pair<int, int> parse_xy(const std::string& text, const std::string& flag);

// The camera for a view: overview, layer:NAME, or a JSON file.
viz::Camera choose_camera(const viz::Layout& l, const RenderArgs& a);
// "TENSOR:INDEX" or "TENSOR:c,y,x" → (layer, flat index) in the layout; Error{Usage} otherwise.
std::pair<int, int64_t> parse_select(const viz::Layout& l, const std::string& text);

// Renders and writes a.out; prints the pick line on stdout when a.pick is set. Returns 0.
// Throws Error (Usage/Io/Device) with one line on failure.
int render_session(const Session& s, const RenderArgs& a);

}  // namespace netlens::render
