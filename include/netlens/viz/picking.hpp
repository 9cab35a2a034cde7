// Picking: the renderer writes (layer id + 1, neuron flat index) into an R32G32_UINT attachment;
// decode_pick turns a read-back pair into the neuron it names. (0, *) is the background.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "netlens/viz/scene.hpp"

namespace netlens::viz {

struct PickResult {
  int layer = -1;
  std::string tensor;
  int64_t flat = 0;           // index in the tensor's batch 0, row-major
  CellIndex cell;             // (c, y, x) in the volume
  std::vector<int64_t> index; // index in the tensor's own shape
  float value = 0.0f;
};

// value: the scene's host value; NaN for a layer without host values (a progressive run's unfilled
// layer, a GPU-made scene).
std::optional<PickResult> decode_pick(const Scene& s, uint32_t id_x, uint32_t id_y);
// One JSON line: {"tensor": "...", "op": "...", "index": [c, y, x], "tensor_index": [...], "value": v}
// or "null".
std::string pick_to_json(const std::optional<PickResult>& p, const Scene& s);
std::string json_escape(const std::string& s);

// A neuron named as `--select` and the viewer's script take it: "TENSOR:INDEX" (flat index in batch
// 0), "TENSOR:c,y,x", or exactly what pick_to_json prints, "TENSOR:[c, y, x]" → (layer, flat index)
// in the layout. Error{Usage} naming `flag` for a bad form, an unknown tensor or an index out of range.
std::pair<int, int64_t> parse_neuron(const Layout& l, const std::string& text, const std::string& flag = "--select");
// A flag's integer field ("1920" of --size 1920x1080, "3" of --select T:3): the whole text must be
// an int, else Error{Usage} "<flag>: '<text>' is not an integer". Shared by the CLI's frame flags.
int parse_flag_int(const std::string& text, const std::string& flag);

}  // namespace netlens::viz
