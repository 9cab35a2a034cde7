// Descriptor sets and graphics pipelines of the Renderer (see renderer_impl.hpp): one set 0 shared by
// every draw, one set 1 per code chunk; dynamic rendering into colour + ID (+ depth), with viewport
// and scissor dynamic so a resize keeps the pipelines.
#include <string>
#include <vector>

#include "embedded_shaders.hpp"
#include "renderer_impl.hpp"

namespace netlens::render {

namespace {

UniqueShaderModule make_module(VkDevice dev, const char* name) {
  auto code = shaders::spirv(name);
  if (code.empty()) throw Error(ErrorKind::Internal, std::string("shader ") + name + " is not embedded");
  VkShaderModuleCreateInfo ci{.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                              .codeSize = code.size() * sizeof(uint32_t), .pCode = code.data()};
  UniqueShaderModule m;
  VK_CHECK(vkCreateShaderModule(dev, &ci, nullptr, m.out(dev)));
  return m;
}

struct PipelineDesc {
  const char* vs;
  const char* fs;
  VkPrimitiveTopology topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST;
  std::vector<VkVertexInputAttributeDescription> attrs;
  uint32_t stride = 0;
  bool blend = false;
  bool depth_test = true;
  bool depth_write = true;
  bool write_id = true;
  VkCullModeFlags cull = VK_CULL_MODE_BACK_BIT;
  bool color_only = false;  // one colour attachment, no ID or depth (text over the upscaled frame)
};

UniquePipeline make_pipeline(VkDevice dev, VkPipelineLayout layout, VkSampleCountFlagBits samples,
                             const PipelineDesc& d) {
  UniqueShaderModule vs = make_module(dev, d.vs), fs = make_module(dev, d.fs);
  VkPipelineShaderStageCreateInfo stages[2] = {
      {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_VERTEX_BIT,
       .module = vs, .pName = "main"},
      {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_FRAGMENT_BIT,
       .module = fs, .pName = "main"}};
  VkVertexInputBindingDescription vb{.binding = 0, .stride = d.stride, .inputRate = VK_VERTEX_INPUT_RATE_VERTEX};
  VkPipelineVertexInputStateCreateInfo vi{.sType = VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO,
                                          .vertexBindingDescriptionCount = d.stride ? 1u : 0u,
                                          .pVertexBindingDescriptions = &vb,
                                          .vertexAttributeDescriptionCount = static_cast<uint32_t>(d.attrs.size()),
                                          .pVertexAttributeDescriptions = d.attrs.data()};
  VkPipelineInputAssemblyStateCreateInfo ia{.sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO,
                                            .topology = d.topology};
  VkPipelineViewportStateCreateInfo vp{.sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO,
                                       .viewportCount = 1, .scissorCount = 1};
  VkPipelineRasterizationStateCreateInfo rs{.sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO,
                                            .polygonMode = VK_POLYGON_MODE_FILL, .cullMode = d.cull,
                                            .frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE, .lineWidth = 1.0f};
  VkPipelineMultisampleStateCreateInfo ms{.sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO,
                                          .rasterizationSamples = samples};
  VkPipelineDepthStencilStateCreateInfo ds{.sType = VK_STRUCTURE_TYPE_PIPELINE_DEPTH_STENCIL_STATE_CREATE_INFO,
                                           .depthTestEnable = d.depth_test, .depthWriteEnable = d.depth_write,
                                           .depthCompareOp = VK_COMPARE_OP_LESS};
  const VkColorComponentFlags rgba = VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT |
                                     VK_COLOR_COMPONENT_B_BIT | VK_COLOR_COMPONENT_A_BIT;
  VkPipelineColorBlendAttachmentState att[2] = {
      {.blendEnable = d.blend, .srcColorBlendFactor = VK_BLEND_FACTOR_SRC_ALPHA,
       .dstColorBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA, .colorBlendOp = VK_BLEND_OP_ADD,
       .srcAlphaBlendFactor = VK_BLEND_FACTOR_ONE, .dstAlphaBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA,
       .alphaBlendOp = VK_BLEND_OP_ADD, .colorWriteMask = rgba},
      {.blendEnable = VK_FALSE,
       .colorWriteMask = d.write_id ? VkColorComponentFlags(VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT) : 0u}};
  VkPipelineColorBlendStateCreateInfo cb{.sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO,
                                         .attachmentCount = d.color_only ? 1u : 2u, .pAttachments = att};
  VkDynamicState dyn[] = {VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_SCISSOR};
  VkPipelineDynamicStateCreateInfo dy{.sType = VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO,
                                      .dynamicStateCount = 2, .pDynamicStates = dyn};
  VkFormat formats[2] = {kColorFormat, kIdFormat};
  VkPipelineRenderingCreateInfo ri{.sType = VK_STRUCTURE_TYPE_PIPELINE_RENDERING_CREATE_INFO,
                                   .colorAttachmentCount = d.color_only ? 1u : 2u, .pColorAttachmentFormats = formats,
                                   .depthAttachmentFormat = d.color_only ? VK_FORMAT_UNDEFINED : kDepthFormat};
  VkGraphicsPipelineCreateInfo pci{.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO, .pNext = &ri,
                                   .stageCount = 2, .pStages = stages, .pVertexInputState = &vi,
                                   .pInputAssemblyState = &ia, .pViewportState = &vp, .pRasterizationState = &rs,
                                   .pMultisampleState = &ms, .pDepthStencilState = &ds, .pColorBlendState = &cb,
                                   .pDynamicState = &dy, .layout = layout};
  UniquePipeline p;
  VK_CHECK(vkCreateGraphicsPipelines(dev, VK_NULL_HANDLE, 1, &pci, nullptr, p.out(dev)));
  return p;
}

}  // namespace

Descriptors make_descriptors(VkDevice dev, const SetBuffers& b) {
  Descriptors ds;
  // Descriptor set 0 (shared by every pipeline).
  std::vector<VkDescriptorSetLayoutBinding> binds;
  auto add_bind = [&](uint32_t binding, VkDescriptorType t) {
    binds.push_back({.binding = binding, .descriptorType = t, .descriptorCount = 1,
                     .stageFlags = VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT});
  };
  const uint32_t storage_binds[] = {gpu::kBindLayers, gpu::kBindParts, gpu::kBindLayerRegions, gpu::kBindLut,
                                    gpu::kBindRegions, gpu::kBindSlabs, gpu::kBindCells};
  add_bind(gpu::kBindFrame, VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER);
  for (uint32_t s : storage_binds) add_bind(s, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER);
  add_bind(gpu::kBindFont, VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER);
  VkDescriptorSetLayoutCreateInfo li{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                     .bindingCount = static_cast<uint32_t>(binds.size()), .pBindings = binds.data()};
  VK_CHECK(vkCreateDescriptorSetLayout(dev, &li, nullptr, ds.set_layout.out(dev)));
  VkDescriptorSetLayoutBinding cbind{.binding = gpu::kBindCodes, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                     .descriptorCount = 1,
                                     .stageFlags = VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT};
  VkDescriptorSetLayoutCreateInfo cli{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                      .bindingCount = 1, .pBindings = &cbind};
  VK_CHECK(vkCreateDescriptorSetLayout(dev, &cli, nullptr, ds.codes_layout.out(dev)));
  const uint32_t nchunks = static_cast<uint32_t>(b.chunks.size());
  VkDescriptorPoolSize sizes[] = {{VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, 1},
                                  {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 7 + nchunks},
                                  {VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 1}};
  VkDescriptorPoolCreateInfo pi{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = 1 + nchunks,
                                .poolSizeCount = 3, .pPoolSizes = sizes};
  VK_CHECK(vkCreateDescriptorPool(dev, &pi, nullptr, ds.pool.out(dev)));
  VkDescriptorSetLayout sl = ds.set_layout;
  VkDescriptorSetAllocateInfo ai{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, .descriptorPool = ds.pool,
                                 .descriptorSetCount = 1, .pSetLayouts = &sl};
  VK_CHECK(vkAllocateDescriptorSets(dev, &ai, &ds.set));
  const VkBuffer bufs[] = {b.frame, b.layers, b.parts, b.lut, b.regions, b.slabs, b.cells, b.layer_regions};
  const uint32_t bind_of[] = {gpu::kBindFrame, gpu::kBindLayers, gpu::kBindParts, gpu::kBindLut,
                              gpu::kBindRegions, gpu::kBindSlabs, gpu::kBindCells, gpu::kBindLayerRegions};
  constexpr uint32_t kSetBuffers = 8;
  std::vector<VkDescriptorBufferInfo> bis(kSetBuffers + nchunks);
  std::vector<VkWriteDescriptorSet> writes;
  for (uint32_t i = 0; i < kSetBuffers; ++i) {
    bis[i] = {bufs[i], 0, VK_WHOLE_SIZE};
    writes.push_back({.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = ds.set, .dstBinding = bind_of[i],
                      .descriptorCount = 1,
                      .descriptorType = i == 0 ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                      .pBufferInfo = &bis[i]});
  }
  VkDescriptorImageInfo ii{b.sampler, b.font, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL};
  writes.push_back({.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = ds.set, .dstBinding = gpu::kBindFont,
                    .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, .pImageInfo = &ii});
  ds.chunk_sets.resize(nchunks);
  std::vector<VkDescriptorSetLayout> cls(nchunks, ds.codes_layout.get());
  VkDescriptorSetAllocateInfo chunk_ai{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, .descriptorPool = ds.pool,
                                       .descriptorSetCount = nchunks, .pSetLayouts = cls.data()};
  VK_CHECK(vkAllocateDescriptorSets(dev, &chunk_ai, ds.chunk_sets.data()));
  for (uint32_t k = 0; k < nchunks; ++k) {
    bis[kSetBuffers + k] = {b.chunks[k], 0, VK_WHOLE_SIZE};
    writes.push_back({.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = ds.chunk_sets[k],
                      .dstBinding = gpu::kBindCodes, .descriptorCount = 1,
                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &bis[kSetBuffers + k]});
  }
  vkUpdateDescriptorSets(dev, static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);
  return ds;
}

Pipelines make_pipelines(VkDevice dev, const Descriptors& ds, VkSampleCountFlagBits samples) {
  Pipelines p;
  VkDescriptorSetLayout sl[2] = {ds.set_layout, ds.codes_layout};
  VkPipelineLayoutCreateInfo li{.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 2,
                                .pSetLayouts = sl};
  VK_CHECK(vkCreatePipelineLayout(dev, &li, nullptr, p.layout.out(dev)));
  auto make = [&](const PipelineDesc& d) { return make_pipeline(dev, p.layout, samples, d); };
  const std::vector<VkVertexInputAttributeDescription> line_attrs = {{0, 0, VK_FORMAT_R32G32B32_SFLOAT, 0},
                                                                     {1, 0, VK_FORMAT_R32G32B32A32_SFLOAT, 12}};
  p.bg = make({.vs = "background.vert", .fs = "background.frag", .depth_test = false, .depth_write = false,
               .write_id = false, .cull = VK_CULL_MODE_NONE});
  p.slab = make({.vs = "slab.vert", .fs = "slab.frag"});
  p.cell = make({.vs = "cell.vert", .fs = "cell.frag"});
  p.line = make({.vs = "line.vert", .fs = "line.frag", .topology = VK_PRIMITIVE_TOPOLOGY_LINE_LIST, .attrs = line_attrs,
                 .stride = sizeof(gpu::LineVertex), .blend = true, .depth_write = false, .write_id = false,
                 .cull = VK_CULL_MODE_NONE});
  p.overlay_line = make({.vs = "line.vert", .fs = "line.frag", .topology = VK_PRIMITIVE_TOPOLOGY_LINE_LIST,
                         .attrs = line_attrs, .stride = sizeof(gpu::LineVertex), .blend = true, .depth_test = false,
                         .depth_write = false, .write_id = false, .cull = VK_CULL_MODE_NONE});
  PipelineDesc text{.vs = "text.vert", .fs = "text.frag",
                    .attrs = {{0, 0, VK_FORMAT_R32G32_SFLOAT, 0}, {1, 0, VK_FORMAT_R32G32_SFLOAT, 8},
                              {2, 0, VK_FORMAT_R32G32B32A32_SFLOAT, 16}, {3, 0, VK_FORMAT_R32G32B32A32_SFLOAT, 32}},
                    .stride = sizeof(gpu::TextVertex), .blend = true, .depth_test = false, .depth_write = false,
                    .write_id = false, .cull = VK_CULL_MODE_NONE};
  p.text = make(text);
  // The same text drawn at the frame's full size over a scene drawn at a reduced scale and scaled up
  // (Renderer::set_render_scale): the single-sample colour image is its only attachment.
  text.color_only = true;
  p.text_full = make_pipeline(dev, p.layout, VK_SAMPLE_COUNT_1_BIT, text);
  return p;
}

}  // namespace netlens::render
