// The renderer's per-input reductions on the GPU (Vulkan compute): what viz::build_scene_from_values
// computes on the CPU — per layer a robust ColorScale, one byte code per neuron, max/mean LOD
// pyramids of codes — from float32 activations that already sit in a Vulkan buffer (written by
// CUDA through external memory, or uploaded from the CPU backend).
//
// Contract:
//  - Built once per (Context, Layout, activation placement). Input: one VkBuffer of float32;
//    layer i's tensor starts at byte layer_offsets[i] (4-byte aligned), batch 0 = its first
//    dims.count floats, as build_scene does.
//  - Output: three device buffers with exactly the layout of viz::Scene's codes0 / codes_max /
//    codes_mean (code0_offset(), level_offset() equal build_scene_from_values' offsets), and a
//    small host-visible buffer of per-layer ColorScales (scales()).
//  - Results equal the CPU's bit for bit: the percentile is the exact k-th sample (radix select
//    over the bits of |v|, 3 passes of 11/11/10 bits); divisions whose hardware result could land
//    on the other side of a code boundary are redone with an exact integer division. Not matched:
//    activations or scales in the subnormal range on devices that flush denormals (lavapipe and
//    most GPUs do), and |v| > 1.7e38 (the CPU's span overflows).
//  - Work per run: a fixed number of dispatches whatever the layer count (3 histogram passes, 3
//    resolves, level 0 and one per pyramid level; each covers every layer through a tile table).
//  - Threads: not thread-safe; use from the thread that owns the Context's queue. record() binds
//    the activation buffer into a descriptor set: calling it with a different buffer while an
//    earlier recording is pending on the GPU is not allowed (same buffer: fine).
//  - Limits: every buffer (activations, codes, scratch) is bound whole and must fit the device's
//    maxStorageBufferRange (128 MiB on lavapipe, 4 GiB on NVIDIA): Error{Device} otherwise.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "netlens/render/context.hpp"
#include "netlens/viz/scene.hpp"

namespace netlens::render {

struct CodeBuilderOptions {
  // As viz::robust_scale: percentiles (integers only, so that the GPU's integer rank matches the
  // CPU's double rounding: the constructor checks it) and the sample budget (≤ 2^24).
  float lo_pct = 1.0f, hi_pct = 99.0f;
  size_t max_samples = 1u << 20;
  bool force_exact_division = false;  // tests: take the exact integer division for every code
  bool perturb_division = false;      // tests: hardware quotients 2 ULP off (OpFDiv may be 2.5)
};

class CodeBuilder {
 public:
  // activation_bytes: the size of the buffers that will be passed to record()/run().
  CodeBuilder(Context& ctx, const viz::Layout& layout, std::vector<uint64_t> layer_offsets,
              uint64_t activation_bytes, const CodeBuilderOptions& opts = {});
  ~CodeBuilder();
  CodeBuilder(const CodeBuilder&) = delete;
  CodeBuilder& operator=(const CodeBuilder&) = delete;

  // Records every dispatch and barrier into cb (outside a render pass). The caller makes the
  // activation writes visible before (e.g. waits on CUDA's semaphore at COMPUTE_SHADER); after
  // it, the code buffers are visible to shader reads and transfers, the scales to the host.
  // Leaves cb's compute pipeline, descriptor set 0 and push constants bound to its own.
  void record(VkCommandBuffer cb, VkBuffer activations);
  // Records into its own command buffer, submits, waits on its fence. Returns the GPU time in ms
  // (timestamps around the work), or the wall time when the queue has no timestamps.
  double run(VkBuffer activations);

  // Host reads, valid after the work recorded last has completed.
  std::vector<viz::ColorScale> scales() const;
  struct Codes { std::vector<uint8_t> codes0, codes_max, codes_mean; };
  Codes read_codes();  // copies the three buffers back (submits and waits)
  // The whole viz::Scene as build_scene_from_values makes it (layout, scales, offsets, levels,
  // codes read back), except SceneLayer::values, left empty: the activations stay on the device.
  // For a renderer that takes a viz::Scene; the caller fills values if it needs picked values.
  viz::Scene read_scene();

  VkBuffer codes0() const;
  VkBuffer codes_max() const;
  VkBuffer codes_mean() const;
  uint64_t codes0_bytes() const;
  uint64_t pyramid_bytes() const;  // of codes_max, and of codes_mean
  uint64_t code0_offset(int layer) const;
  uint64_t level_offset(int layer, int k) const;  // k in 1..levels(layer)
  int levels(int layer) const;
  int dispatches() const;  // per record()
  // GPU time of each dispatch of the last run() ("histogram 0", "resolve 0", ..., "level 3"),
  // empty without timestamps. Each includes the barrier wait before it.
  const std::vector<std::pair<std::string, double>>& stage_ms() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Float32 activations in one host-visible storage buffer (the no-CUDA path, and tests): layer i's
// values at offsets()[i], each layer 16-byte aligned.
class ActivationBuffer {
 public:
  ActivationBuffer(Context& ctx, const std::vector<std::vector<float>>& values);
  ~ActivationBuffer();
  ActivationBuffer(const ActivationBuffer&) = delete;
  ActivationBuffer& operator=(const ActivationBuffer&) = delete;
  VkBuffer buffer() const;
  uint64_t bytes() const;
  const std::vector<uint64_t>& offsets() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace netlens::render
