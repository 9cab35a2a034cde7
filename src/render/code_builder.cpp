#include "netlens/render/code_builder.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <string_view>
#include <string>

#include "embedded_shaders.hpp"
#include "gpu_types.hpp"
#include "codes.h"
#include "vk_buffer.hpp"

namespace netlens::render {

static_assert(sizeof(gpu::CodesLayer) == 192, "CodesLayer must match std430 layout in shaders/shared/codes.h");
static_assert(sizeof(gpu::CodesTile) == 16, "CodesTile must match std430 layout in shaders/shared/codes.h");
static_assert(sizeof(gpu::CodesState) == 4 * gpu::kStWords, "CodesState must be kStWords uints");
static_assert(sizeof(gpu::CodesScale) == 16, "CodesScale must match std430 layout in shaders/shared/codes.h");
static_assert(sizeof(gpu::CodesPush) == 16, "CodesPush must match the push-constant block");
static_assert(gpu::kCodesMaxLevels + 1 == viz::kMaxLevels, "pyramid depth differs between codes.h and viz");
static_assert(gpu::kCodesTinyHiBits == std::bit_cast<uint32_t>(1e-30f), "kCodesTinyHiBits must be 1e-30f");
static_assert(gpu::kCodesOneBits == std::bit_cast<uint32_t>(1.0f));
static_assert(gpu::kCodesBuckets % gpu::kCodesGroup == 0);
static_assert(gpu::kCodesGroup == NL_CODES_GROUP);

namespace {

constexpr uint32_t kBindings = 10;
constexpr uint64_t kCellBytes = 12;  // CodesCell: max, sum, count
constexpr uint32_t kMaxQueries = 32;  // > 1 + dispatches per run (at most 6 + 1 + 12)

using Buf = GpuBuffer;

// Sizes padded to whole 32-bit words (the shaders address words). Small mapped tables read by
// every workgroup: device-local when the device maps such memory (BAR, lavapipe), else host
// memory; device-local scratch falls back to any memory type.
Buf make_buf(Context& ctx, VkDeviceSize size, VkBufferUsageFlags usage, VkMemoryPropertyFlags want, bool map) {
  VkMemoryPropertyFlags choices[3];
  size_t n = 0;
  if (map && size <= (1u << 20)) choices[n++] = want | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  choices[n++] = want;
  if ((want & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && !map) choices[n++] = 0;
  return make_buffer(ctx, (size + 3) & ~VkDeviceSize(3), usage, std::span<const VkMemoryPropertyFlags>(choices, n), map);
}

// The integer rank formula in codes_resolve.comp, (p·(n−1) + 50) / 100, equals the CPU's
// lround(double(p) / 100.0 · double(n − 1)) when p is an integer percent and double(p)/100 is
// within 2^-54 (relative) of p/100: then a product that is exactly a tie (x.5) still rounds to the
// tie in double, and every other product is at least 0.01 away from one.
uint32_t checked_percent(float p, const char* what) {
  if (!(p >= 0.0f && p <= 100.0f) || p != std::floor(p))
    throw Error(ErrorKind::Usage, std::string("CodeBuilder: ") + what + " must be an integer percentile in 0..100");
  double f = double(p) / 100.0;
  double residual = std::fma(f, 100.0, -double(p));  // f·100 − p, exactly
  if (p > 0.0f && !(std::fabs(residual) < double(p) * std::ldexp(1.0, -54)))
    throw Error(ErrorKind::Usage, std::string("CodeBuilder: ") + what + " " + std::to_string(p) +
                                      " cannot be matched exactly (double(p)/100 too far from p/100)");
  return static_cast<uint32_t>(p);
}

uint32_t u32(uint64_t v, const char* what) {
  if (v > 0xfffffff0ull) throw Error(ErrorKind::Device, std::string("CodeBuilder: ") + what + " exceeds 2^32");
  return static_cast<uint32_t>(v);
}

VkMemoryBarrier2 compute_barrier() {
  return VkMemoryBarrier2{.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER_2,
                          .srcStageMask = VK_PIPELINE_STAGE_2_COMPUTE_SHADER_BIT,
                          .srcAccessMask = VK_ACCESS_2_SHADER_STORAGE_WRITE_BIT,
                          .dstStageMask = VK_PIPELINE_STAGE_2_COMPUTE_SHADER_BIT,
                          .dstAccessMask = VK_ACCESS_2_SHADER_STORAGE_READ_BIT | VK_ACCESS_2_SHADER_STORAGE_WRITE_BIT};
}

void barrier(VkCommandBuffer cb, const VkMemoryBarrier2& b) {
  VkDependencyInfo di{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .memoryBarrierCount = 1, .pMemoryBarriers = &b};
  vkCmdPipelineBarrier2(cb, &di);
}

}  // namespace

struct CodeBuilder::Impl {
  Context& ctx;
  CodeBuilderOptions opts;
  viz::Layout layout;
  size_t nlayers = 0;
  std::vector<uint64_t> code0_off;
  std::vector<std::array<uint64_t, viz::kMaxLevels>> level_off;
  std::vector<int> levels;
  uint64_t total0 = 0, totalp = 0, act_bytes = 0;

  // Tile ranges (first, count) in the tile table.
  struct Range { uint32_t first = 0, count = 0; };
  Range hist0, hist12, level0;
  std::array<Range, viz::kMaxLevels> level{};  // [k], k ≥ 1

  Buf layers_buf, tiles_buf, state_buf, hist_buf, scales_buf, codes0_buf, max_buf, mean_buf, scratch_buf;
  UniqueSetLayout set_layout;
  UniquePipelineLayout pipe_layout;
  UniquePipeline p_hist, p_resolve, p_level0, p_level;
  UniqueDescriptorPool dpool;
  VkDescriptorSet set = VK_NULL_HANDLE;
  VkBuffer bound_act = VK_NULL_HANDLE;

  UniqueCommandPool cmd_pool;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  UniqueFence fence;
  VkQueryPool queries = VK_NULL_HANDLE;  // run(): timestamps at the start and after every dispatch
  bool timing = false;                   // record() is called by run(): write them
  int dispatch_count = 0;
  std::vector<std::pair<std::string, double>> stage_ms;
  std::vector<std::string> stage_names;  // of the dispatches recorded last

  Impl(Context& c, const viz::Layout& lay, const std::vector<uint64_t>& offsets, uint64_t bytes,
       const CodeBuilderOptions& o);
  ~Impl() {
    if (queries) vkDestroyQueryPool(ctx.device(), queries, nullptr);
  }
  UniquePipeline make_pipeline(const char* name);
  void dispatch(VkCommandBuffer cb, VkPipeline p, Range r, uint32_t arg);
};

UniquePipeline CodeBuilder::Impl::make_pipeline(const char* name) {
  VkDevice dev = ctx.device();
  auto code = shaders::spirv(name);
  if (code.empty()) throw Error(ErrorKind::Internal, std::string("shader ") + name + " is not embedded");
  VkShaderModuleCreateInfo mi{.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                              .codeSize = code.size() * sizeof(uint32_t), .pCode = code.data()};
  UniqueShaderModule m;
  VK_CHECK(vkCreateShaderModule(dev, &mi, nullptr, m.out(dev)));
  VkComputePipelineCreateInfo ci{
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = m, .pName = "main"},
      .layout = pipe_layout};
  UniquePipeline p;
  VK_CHECK(vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &ci, nullptr, p.out(dev)));
  return p;
}

CodeBuilder::Impl::Impl(Context& c, const viz::Layout& lay, const std::vector<uint64_t>& offsets,
                        uint64_t bytes, const CodeBuilderOptions& o)
    : ctx(c), opts(o), layout(lay), nlayers(lay.layers.size()), act_bytes(bytes) {
  if (offsets.size() != nlayers)
    throw Error(ErrorKind::Usage, "CodeBuilder: " + std::to_string(offsets.size()) + " activation offsets for " +
                                      std::to_string(nlayers) + " layers");
  if (opts.max_samples == 0 || opts.max_samples > (size_t(1) << 24))
    throw Error(ErrorKind::Usage, "CodeBuilder: max_samples must be in 1..2^24");
  const uint32_t lo_pct = checked_percent(opts.lo_pct, "lo_pct"), hi_pct = checked_percent(opts.hi_pct, "hi_pct");
  const uint64_t max_range = ctx.properties().limits.maxStorageBufferRange;
  if (act_bytes > max_range)
    throw Error(ErrorKind::Device, "CodeBuilder: activation buffer of " + std::to_string(act_bytes) +
                                       " bytes exceeds the device's maxStorageBufferRange (" +
                                       std::to_string(max_range) + ")");

  // Offsets exactly as build_scene_from_values lays the codes out.
  std::vector<gpu::CodesLayer> table(nlayers);
  code0_off.resize(nlayers);
  level_off.resize(nlayers);
  levels.resize(nlayers);
  for (size_t i = 0; i < nlayers; ++i) {
    const viz::VolumeDims& d = layout.layers[i].dims;
    const std::string& name = layout.layers[i].tensor.name;
    if (offsets[i] % 4 != 0 || offsets[i] + uint64_t(d.count) * 4 > act_bytes)
      throw Error(ErrorKind::Usage, "CodeBuilder: layer '" + name + "': activations at byte " +
                                        std::to_string(offsets[i]) + " (" + std::to_string(d.count) +
                                        " floats) are misaligned or past the buffer's " + std::to_string(act_bytes) +
                                        " bytes");
    gpu::CodesLayer& L = table[i];
    const uint64_t cells = uint64_t(d.C * d.H * d.W);
    const uint64_t stride = std::max<uint64_t>(1, uint64_t(d.count) / opts.max_samples);
    L.dims = {u32(d.C, "channels"), u32(d.H, "height"), u32(d.W, "width"), u32(d.count, "neurons")};
    auto lv = viz::pyramid_levels(d.H, d.W);
    levels[i] = static_cast<int>(lv.size());
    L.src = {u32(offsets[i] / 4, "activation offset"), u32(stride, "stride"),
             u32((uint64_t(d.count) + stride - 1) / stride, "samples"), static_cast<uint32_t>(lv.size())};
    code0_off[i] = total0;
    L.out0 = {u32(total0, "codes0 size"), u32(cells, "cells"), lo_pct, hi_pct};
    total0 += cells;
    level_off[i].fill(0);
    for (size_t k = 0; k < lv.size(); ++k) {
      level_off[i][k + 1] = totalp;
      L.level_off[k / 4][static_cast<int>(k % 4)] = u32(totalp, "pyramid size");
      L.level_hw[k / 2][static_cast<int>(2 * (k % 2))] = u32(lv[k].h, "level height");
      L.level_hw[k / 2][static_cast<int>(2 * (k % 2) + 1)] = u32(lv[k].w, "level width");
      totalp += uint64_t(d.C * lv[k].h * lv[k].w);
    }
  }
  u32(total0 + 4, "codes0 size");
  u32(totalp + 4, "pyramid size");
  const uint64_t scratch_bytes = totalp * kCellBytes;
  for (auto [size, what] : {std::pair{total0, "codes0"}, std::pair{totalp, "codes_max"},
                            std::pair{scratch_bytes, "pyramid scratch"}})
    if (size > max_range)
      throw Error(ErrorKind::Device, std::string("CodeBuilder: ") + what + " needs " + std::to_string(size) +
                                         " bytes, over the device's maxStorageBufferRange (" +
                                         std::to_string(max_range) + ")");

  // Tile tables: each workgroup works inside one layer (so its scale and histogram are uniform).
  std::vector<gpu::CodesTile> tiles;
  auto add = [&](uint32_t layer, uint64_t begin, uint64_t end, uint64_t per, uint32_t lvl) {
    for (uint64_t b = begin; b < end; b += per)
      tiles.push_back({{layer, static_cast<uint32_t>(b), static_cast<uint32_t>(std::min(end, b + per)), lvl}});
  };
  const uint64_t per_elems = gpu::kCodesGroup * gpu::kCodesItems, per_words = gpu::kCodesGroup * gpu::kCodesWords;
  auto words = [](uint64_t off, uint64_t len) { return std::pair{off / 4, (off + len + 3) / 4}; };
  hist0.first = 0;
  for (size_t i = 0; i < nlayers; ++i) add(uint32_t(i), 0, table[i].dims.w, per_elems, 0);
  hist0.count = static_cast<uint32_t>(tiles.size());
  hist12.first = static_cast<uint32_t>(tiles.size());
  for (size_t i = 0; i < nlayers; ++i) add(uint32_t(i), 0, table[i].src.z, per_elems, 0);
  hist12.count = static_cast<uint32_t>(tiles.size()) - hist12.first;
  level0.first = static_cast<uint32_t>(tiles.size());
  for (size_t i = 0; i < nlayers; ++i) {
    auto [w0, w1] = words(code0_off[i], table[i].out0.y);
    add(uint32_t(i), w0, w1, per_words, 0);
  }
  level0.count = static_cast<uint32_t>(tiles.size()) - level0.first;
  for (int k = 1; k < viz::kMaxLevels; ++k) {
    level[k].first = static_cast<uint32_t>(tiles.size());
    for (size_t i = 0; i < nlayers; ++i) {
      if (levels[i] < k) continue;
      const uint64_t n = uint64_t(table[i].dims.x) * table[i].level_hw[(k - 1) / 2][2 * ((k - 1) % 2)] *
                         table[i].level_hw[(k - 1) / 2][2 * ((k - 1) % 2) + 1];
      auto [w0, w1] = words(level_off[i][k], n);
      add(uint32_t(i), w0, w1, per_words, uint32_t(k));
    }
    level[k].count = static_cast<uint32_t>(tiles.size()) - level[k].first;
  }

  // Buffers.
  const VkBufferUsageFlags ssbo = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  const VkBufferUsageFlags fillable = ssbo | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  layers_buf = make_buf(ctx, table.size() * sizeof(gpu::CodesLayer), ssbo, kHost, true);
  std::memcpy(layers_buf.map, table.data(), table.size() * sizeof(gpu::CodesLayer));
  tiles_buf = make_buf(ctx, tiles.size() * sizeof(gpu::CodesTile), ssbo, kHost, true);
  std::memcpy(tiles_buf.map, tiles.data(), tiles.size() * sizeof(gpu::CodesTile));
  state_buf = make_buf(ctx, nlayers * sizeof(gpu::CodesState), fillable, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, false);
  hist_buf = make_buf(ctx, nlayers * gpu::kCodesTargets * gpu::kCodesBuckets * 4, fillable,
                      VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, false);
  scales_buf = make_buf(ctx, nlayers * sizeof(gpu::CodesScale), ssbo, kHost, true);
  std::memset(scales_buf.map, 0, static_cast<size_t>(scales_buf.size));
  const VkBufferUsageFlags codes = fillable | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  codes0_buf = make_buf(ctx, total0, codes, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, false);
  max_buf = make_buf(ctx, totalp, codes, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, false);
  mean_buf = make_buf(ctx, totalp, codes, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, false);
  scratch_buf = make_buf(ctx, scratch_bytes, ssbo, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, false);

  // Descriptors and pipelines.
  VkDevice dev = ctx.device();
  std::array<VkDescriptorSetLayoutBinding, kBindings> b{};
  for (uint32_t i = 0; i < kBindings; ++i)
    b[i] = {.binding = i, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
  VkDescriptorSetLayoutCreateInfo li{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                     .bindingCount = kBindings, .pBindings = b.data()};
  VK_CHECK(vkCreateDescriptorSetLayout(dev, &li, nullptr, set_layout.out(dev)));
  VkPushConstantRange pr{.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = sizeof(gpu::CodesPush)};
  VkDescriptorSetLayout sl = set_layout;
  VkPipelineLayoutCreateInfo pli{.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                 .pSetLayouts = &sl, .pushConstantRangeCount = 1, .pPushConstantRanges = &pr};
  VK_CHECK(vkCreatePipelineLayout(dev, &pli, nullptr, pipe_layout.out(dev)));
  p_hist = make_pipeline("codes_hist.comp");
  p_resolve = make_pipeline("codes_resolve.comp");
  p_level0 = make_pipeline("codes_level0.comp");
  p_level = make_pipeline("codes_level.comp");
  VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kBindings};
  VkDescriptorPoolCreateInfo dpi{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = 1,
                                 .poolSizeCount = 1, .pPoolSizes = &ps};
  VK_CHECK(vkCreateDescriptorPool(dev, &dpi, nullptr, dpool.out(dev)));
  VkDescriptorSetAllocateInfo ai{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, .descriptorPool = dpool,
                                 .descriptorSetCount = 1, .pSetLayouts = &sl};
  VK_CHECK(vkAllocateDescriptorSets(dev, &ai, &set));
  std::array<VkDescriptorBufferInfo, kBindings> infos{};
  const Buf* own[kBindings] = {&layers_buf, &tiles_buf, nullptr, &state_buf, &hist_buf,
                               &scales_buf, &codes0_buf, &max_buf, &mean_buf, &scratch_buf};
  std::vector<VkWriteDescriptorSet> writes;
  for (uint32_t i = 0; i < kBindings; ++i) {
    if (!own[i]) continue;  // the activations: bound by record()
    infos[i] = {own[i]->buf, 0, VK_WHOLE_SIZE};
    writes.push_back({.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = i,
                      .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                      .pBufferInfo = &infos[i]});
  }
  vkUpdateDescriptorSets(dev, static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);

  // run(): own command buffer, fence and (when the queue has them) two timestamps.
  make_command_buffer(ctx, cmd_pool, cmd, fence);
  uint32_t nf = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(ctx.physical(), &nf, nullptr);
  std::vector<VkQueueFamilyProperties> fam(nf);
  vkGetPhysicalDeviceQueueFamilyProperties(ctx.physical(), &nf, fam.data());
  if (fam[ctx.queue_family()].timestampValidBits > 0) {
    VkQueryPoolCreateInfo qi{.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, .queryType = VK_QUERY_TYPE_TIMESTAMP,
                             .queryCount = kMaxQueries};
    VK_CHECK(vkCreateQueryPool(dev, &qi, nullptr, &queries));
  }
}

void CodeBuilder::Impl::dispatch(VkCommandBuffer cb, VkPipeline p, Range r, uint32_t arg) {
  if (r.count == 0) return;
  const char* kind = p == p_hist ? "histogram " : p == p_resolve ? "resolve " : p == p_level0 ? "level " : "level ";
  stage_names.push_back(kind + std::to_string(arg));
  vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p);
  const uint32_t flags = (opts.force_exact_division ? gpu::kCodesForceExact : 0u) |
                         (opts.perturb_division ? gpu::kCodesPerturbDivision : 0u);
  gpu::CodesPush push{{arg, r.first, r.count, flags}};
  vkCmdPushConstants(cb, pipe_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof push, &push);
  const uint32_t x = std::min(r.count, gpu::kCodesMaxGroupsX), y = (r.count + x - 1) / x;
  vkCmdDispatch(cb, x, y, 1);
  ++dispatch_count;
  if (timing) vkCmdWriteTimestamp2(cb, VK_PIPELINE_STAGE_2_COMPUTE_SHADER_BIT, queries, uint32_t(dispatch_count));
}

CodeBuilder::CodeBuilder(Context& ctx, const viz::Layout& layout, std::vector<uint64_t> layer_offsets,
                         uint64_t activation_bytes, const CodeBuilderOptions& opts)
    : impl_(std::make_unique<Impl>(ctx, layout, layer_offsets, activation_bytes, opts)) {}

CodeBuilder::~CodeBuilder() = default;

void CodeBuilder::record(VkCommandBuffer cb, VkBuffer activations) {
  Impl& m = *impl_;
  if (activations != m.bound_act) {
    VkDescriptorBufferInfo bi{activations, 0, VK_WHOLE_SIZE};
    VkWriteDescriptorSet w{.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = m.set,
                           .dstBinding = gpu::kCodesBindActivations, .descriptorCount = 1,
                           .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &bi};
    vkUpdateDescriptorSets(m.ctx.device(), 1, &w, 0, nullptr);
    m.bound_act = activations;
  }
  m.dispatch_count = 0;
  m.stage_names.clear();
  // Counters and histograms start at zero; code buffers too, since words shared by two regions
  // are OR-ed together.
  for (const Buf* b : {&m.state_buf, &m.hist_buf, &m.codes0_buf, &m.max_buf, &m.mean_buf})
    vkCmdFillBuffer(cb, b->buf, 0, VK_WHOLE_SIZE, 0);
  barrier(cb, VkMemoryBarrier2{.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER_2,
                               .srcStageMask = VK_PIPELINE_STAGE_2_CLEAR_BIT | VK_PIPELINE_STAGE_2_HOST_BIT,
                               .srcAccessMask = VK_ACCESS_2_TRANSFER_WRITE_BIT | VK_ACCESS_2_HOST_WRITE_BIT,
                               .dstStageMask = VK_PIPELINE_STAGE_2_COMPUTE_SHADER_BIT,
                               .dstAccessMask = VK_ACCESS_2_SHADER_STORAGE_READ_BIT |
                                                VK_ACCESS_2_SHADER_STORAGE_WRITE_BIT});
  vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, m.pipe_layout, 0, 1, &m.set, 0, nullptr);
  const Impl::Range all_layers{0, static_cast<uint32_t>(m.nlayers)};
  for (uint32_t pass = 0; pass < 3; ++pass) {
    m.dispatch(cb, m.p_hist, pass == 0 ? m.hist0 : m.hist12, pass);
    barrier(cb, compute_barrier());
    m.dispatch(cb, m.p_resolve, all_layers, pass);
    barrier(cb, compute_barrier());
  }
  // Level 0 and level 1 both read only the activations and the scales.
  m.dispatch(cb, m.p_level0, m.level0, 0);
  for (int k = 1; k < viz::kMaxLevels && m.level[k].count; ++k) {
    m.dispatch(cb, m.p_level, m.level[k], static_cast<uint32_t>(k));
    barrier(cb, compute_barrier());
  }
  barrier(cb, VkMemoryBarrier2{.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER_2,
                               .srcStageMask = VK_PIPELINE_STAGE_2_COMPUTE_SHADER_BIT,
                               .srcAccessMask = VK_ACCESS_2_SHADER_STORAGE_WRITE_BIT,
                               .dstStageMask = VK_PIPELINE_STAGE_2_ALL_COMMANDS_BIT | VK_PIPELINE_STAGE_2_HOST_BIT,
                               .dstAccessMask = VK_ACCESS_2_SHADER_READ_BIT | VK_ACCESS_2_TRANSFER_READ_BIT |
                                                VK_ACCESS_2_HOST_READ_BIT});
}

double CodeBuilder::run(VkBuffer activations) {
  Impl& m = *impl_;
  VkDevice dev = m.ctx.device();
  VK_CHECK(vkResetCommandBuffer(m.cmd, 0));
  VkCommandBufferBeginInfo bi{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                              .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VK_CHECK(vkBeginCommandBuffer(m.cmd, &bi));
  if (m.queries) {
    vkCmdResetQueryPool(m.cmd, m.queries, 0, kMaxQueries);
    vkCmdWriteTimestamp2(m.cmd, VK_PIPELINE_STAGE_2_ALL_COMMANDS_BIT, m.queries, 0);
  }
  m.timing = m.queries != VK_NULL_HANDLE;
  try {
    record(m.cmd, activations);
  } catch (...) {
    m.timing = false;
    throw;
  }
  m.timing = false;
  VK_CHECK(vkEndCommandBuffer(m.cmd));
  VkCommandBufferSubmitInfo cbi{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_SUBMIT_INFO, .commandBuffer = m.cmd};
  VkSubmitInfo2 si{.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO_2, .commandBufferInfoCount = 1, .pCommandBufferInfos = &cbi};
  VkFence f = m.fence;
  VK_CHECK(vkResetFences(dev, 1, &f));
  auto t0 = std::chrono::steady_clock::now();
  VK_CHECK(vkQueueSubmit2(m.ctx.queue(), 1, &si, f));
  VK_CHECK(vkWaitForFences(dev, 1, &f, VK_TRUE, UINT64_MAX));
  double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!m.queries) return wall;
  const uint32_t n = static_cast<uint32_t>(m.dispatch_count) + 1;
  std::vector<uint64_t> ts(n);
  VK_CHECK(vkGetQueryPoolResults(dev, m.queries, 0, n, n * sizeof(uint64_t), ts.data(), sizeof(uint64_t),
                                 VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  const double to_ms = double(m.ctx.properties().limits.timestampPeriod) * 1e-6;
  m.stage_ms.clear();
  for (uint32_t i = 1; i < n; ++i) m.stage_ms.emplace_back(m.stage_names.at(i - 1), double(ts[i] - ts[i - 1]) * to_ms);
  return double(ts[n - 1] - ts[0]) * to_ms;
}

std::vector<viz::ColorScale> CodeBuilder::scales() const {
  std::vector<viz::ColorScale> out(impl_->nlayers);
  const auto* s = static_cast<const gpu::CodesScale*>(impl_->scales_buf.map);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = {s[i].v.x == 1 ? viz::ColorMapKind::Diverging : viz::ColorMapKind::Sequential,
              std::bit_cast<float>(s[i].v.y), std::bit_cast<float>(s[i].v.z)};
  return out;
}

CodeBuilder::Codes CodeBuilder::read_codes() {
  Impl& m = *impl_;
  const VkDeviceSize n0 = m.codes0_buf.size, np = m.max_buf.size;
  Buf st = make_buf(m.ctx, n0 + 2 * np, VK_BUFFER_USAGE_TRANSFER_DST_BIT, kHost, true);
  m.ctx.submit_now([&](VkCommandBuffer cb) {
    VkBufferCopy c0{0, 0, n0}, c1{0, n0, np}, c2{0, n0 + np, np};
    vkCmdCopyBuffer(cb, m.codes0_buf.buf, st.buf, 1, &c0);
    vkCmdCopyBuffer(cb, m.max_buf.buf, st.buf, 1, &c1);
    vkCmdCopyBuffer(cb, m.mean_buf.buf, st.buf, 1, &c2);
    barrier(cb, VkMemoryBarrier2{.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER_2,
                                 .srcStageMask = VK_PIPELINE_STAGE_2_COPY_BIT,
                                 .srcAccessMask = VK_ACCESS_2_TRANSFER_WRITE_BIT,
                                 .dstStageMask = VK_PIPELINE_STAGE_2_HOST_BIT,
                                 .dstAccessMask = VK_ACCESS_2_HOST_READ_BIT});
  });
  const auto* p = static_cast<const uint8_t*>(st.map);
  Codes c;
  c.codes0.assign(p, p + m.total0);
  c.codes_max.assign(p + n0, p + n0 + m.totalp);
  c.codes_mean.assign(p + n0 + np, p + n0 + np + m.totalp);
  return c;
}

viz::Scene CodeBuilder::read_scene() {
  viz::Scene s;
  s.layout = impl_->layout;
  Codes c = read_codes();
  s.codes0 = std::move(c.codes0);
  s.codes_max = std::move(c.codes_max);
  s.codes_mean = std::move(c.codes_mean);
  auto sc = scales();
  s.layers.resize(impl_->nlayers);
  for (size_t i = 0; i < impl_->nlayers; ++i) {
    viz::SceneLayer& L = s.layers[i];
    L.scale = sc[i];
    L.code0_offset = impl_->code0_off[i];
    L.levels = impl_->levels[i];
    L.level_offset = impl_->level_off[i];
  }
  return s;
}

VkBuffer CodeBuilder::codes0() const { return impl_->codes0_buf.buf; }
VkBuffer CodeBuilder::codes_max() const { return impl_->max_buf.buf; }
VkBuffer CodeBuilder::codes_mean() const { return impl_->mean_buf.buf; }
uint64_t CodeBuilder::codes0_bytes() const { return impl_->total0; }
uint64_t CodeBuilder::pyramid_bytes() const { return impl_->totalp; }
uint64_t CodeBuilder::code0_offset(int layer) const { return impl_->code0_off.at(static_cast<size_t>(layer)); }
uint64_t CodeBuilder::level_offset(int layer, int k) const {
  if (k < 1 || k > levels(layer)) throw Error(ErrorKind::Usage, "CodeBuilder::level_offset: no level " + std::to_string(k));
  return impl_->level_off.at(static_cast<size_t>(layer))[static_cast<size_t>(k)];
}
int CodeBuilder::levels(int layer) const { return impl_->levels.at(static_cast<size_t>(layer)); }
int CodeBuilder::dispatches() const { return impl_->dispatch_count; }
const std::vector<std::pair<std::string, double>>& CodeBuilder::stage_ms() const { return impl_->stage_ms; }

struct ActivationBuffer::Impl {
  Buf buf;
  std::vector<uint64_t> offsets;
};

ActivationBuffer::ActivationBuffer(Context& ctx, const std::vector<std::vector<float>>& values)
    : impl_(std::make_unique<Impl>()) {
  uint64_t total = 0;
  for (const auto& v : values) {
    impl_->offsets.push_back(total);
    total += (uint64_t(v.size()) * 4 + 15) & ~uint64_t(15);
  }
  impl_->buf = make_buf(ctx, total, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, kHost, true);
  auto* p = static_cast<uint8_t*>(impl_->buf.map);
  std::memset(p, 0, static_cast<size_t>(impl_->buf.size));
  for (size_t i = 0; i < values.size(); ++i)
    if (!values[i].empty()) std::memcpy(p + impl_->offsets[i], values[i].data(), values[i].size() * 4);
}
ActivationBuffer::~ActivationBuffer() = default;
VkBuffer ActivationBuffer::buffer() const { return impl_->buf.buf; }
uint64_t ActivationBuffer::bytes() const { return impl_->buf.size; }
const std::vector<uint64_t>& ActivationBuffer::offsets() const { return impl_->offsets; }

}  // namespace netlens::render
