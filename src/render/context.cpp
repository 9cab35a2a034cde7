#include "netlens/render/context.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace netlens::render {

const char* vk_result_name(VkResult r) {
  switch (r) {
#define NL_CASE(x) case x: return #x;
    NL_CASE(VK_SUCCESS) NL_CASE(VK_NOT_READY) NL_CASE(VK_TIMEOUT) NL_CASE(VK_EVENT_SET) NL_CASE(VK_EVENT_RESET)
    NL_CASE(VK_INCOMPLETE) NL_CASE(VK_ERROR_OUT_OF_HOST_MEMORY) NL_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    NL_CASE(VK_ERROR_INITIALIZATION_FAILED) NL_CASE(VK_ERROR_DEVICE_LOST) NL_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    NL_CASE(VK_ERROR_LAYER_NOT_PRESENT) NL_CASE(VK_ERROR_EXTENSION_NOT_PRESENT) NL_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    NL_CASE(VK_ERROR_INCOMPATIBLE_DRIVER) NL_CASE(VK_ERROR_TOO_MANY_OBJECTS) NL_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    NL_CASE(VK_ERROR_FRAGMENTED_POOL) NL_CASE(VK_ERROR_UNKNOWN) NL_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    NL_CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE) NL_CASE(VK_ERROR_FRAGMENTATION)
    NL_CASE(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS) NL_CASE(VK_PIPELINE_COMPILE_REQUIRED)
    NL_CASE(VK_ERROR_SURFACE_LOST_KHR) NL_CASE(VK_ERROR_NATIVE_WINDOW_IN_USE_KHR) NL_CASE(VK_SUBOPTIMAL_KHR)
    NL_CASE(VK_ERROR_OUT_OF_DATE_KHR) NL_CASE(VK_ERROR_VALIDATION_FAILED_EXT)
#undef NL_CASE
    default: return "VK_RESULT_UNKNOWN";
  }
}

void vk_fail(const char* call, const char* file, int line, VkResult r) {
  const char* base = std::strrchr(file, '/');
  std::string msg = std::string("Vulkan call ") + call + " failed with " + vk_result_name(r) + " at " +
                    (base ? base + 1 : file) + ":" + std::to_string(line);
  std::fprintf(stderr, "netlens: %s\n", msg.c_str());
  throw Error(ErrorKind::Device, msg);
}

namespace {

const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

// Called by the validation layer (C): nothing may unwind through it. Copying the message can only
// fail for memory; then the error is still counted (an empty message) or, failing that, printed.
VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                              VkDebugUtilsMessageTypeFlagsEXT,
                                              const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) noexcept {
  const char* text = data && data->pMessage ? data->pMessage : "(no message)";
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
    std::fprintf(stderr, "netlens: Vulkan validation error: %s\n", text);
    auto* ctx = static_cast<Context*>(user);
    std::lock_guard lock(ctx->errors_mutex_);
    try {
      ctx->errors_.emplace_back(text);
    } catch (...) {
      try {
        ctx->errors_.emplace_back();
      } catch (...) {
        std::fprintf(stderr, "netlens: out of memory recording a Vulkan validation error\n");
      }
    }
  } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    std::fprintf(stderr, "netlens: Vulkan validation warning: %s\n", text);
  }
  return VK_FALSE;
}

bool has_layer(const char* name) {
  uint32_t n = 0;
  vkEnumerateInstanceLayerProperties(&n, nullptr);
  std::vector<VkLayerProperties> layers(n);
  vkEnumerateInstanceLayerProperties(&n, layers.data());
  for (auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return true;
  return false;
}

const char* type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

int graphics_family(VkPhysicalDevice p) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(p, &n, nullptr);
  std::vector<VkQueueFamilyProperties> q(n);
  vkGetPhysicalDeviceQueueFamilyProperties(p, &n, q.data());
  for (uint32_t i = 0; i < n; ++i)
    if (q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) return static_cast<int>(i);
  return -1;
}

bool has_device_extension(VkPhysicalDevice p, const char* name) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(p, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> e(n);
  vkEnumerateDeviceExtensionProperties(p, nullptr, &n, e.data());
  for (const auto& x : e)
    if (std::strcmp(x.extensionName, name) == 0) return true;
  return false;
}

bool usable(VkPhysicalDevice p) {
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(p, &props);
  if (props.apiVersion < VK_API_VERSION_1_3 || graphics_family(p) < 0) return false;
  VkPhysicalDeviceVulkan13Features f13{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceFeatures2 f{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f13};
  vkGetPhysicalDeviceFeatures2(p, &f);
  return f13.dynamicRendering && f13.synchronization2 && f.features.independentBlend && f.features.shaderClipDistance;
}

VkInstance make_instance(bool validation, bool with_messenger_ext, const std::vector<std::string>& extra = {}) {
  VkApplicationInfo app{.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                        .pApplicationName = "netlens",
                        .applicationVersion = VK_MAKE_API_VERSION(0, 0, 1, 0),
                        .pEngineName = "netlens",
                        .engineVersion = VK_MAKE_API_VERSION(0, 0, 1, 0),
                        .apiVersion = VK_API_VERSION_1_3};
  std::vector<const char*> layers, exts;
  if (validation) layers.push_back(kValidationLayer);
  if (with_messenger_ext) exts.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  for (const auto& e : extra) exts.push_back(e.c_str());
  VkInstanceCreateInfo ci{.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                          .pApplicationInfo = &app,
                          .enabledLayerCount = static_cast<uint32_t>(layers.size()),
                          .ppEnabledLayerNames = layers.data(),
                          .enabledExtensionCount = static_cast<uint32_t>(exts.size()),
                          .ppEnabledExtensionNames = exts.data()};
  VkInstance inst = VK_NULL_HANDLE;
  VkResult r = vkCreateInstance(&ci, nullptr, &inst);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED)
    throw Error(ErrorKind::Device, std::string("no Vulkan driver available (vkCreateInstance: ") + vk_result_name(r) + ")");
  VK_CHECK(r);
  return inst;
}

std::vector<VkPhysicalDevice> physical_devices(VkInstance inst) {
  uint32_t n = 0;
  VK_CHECK(vkEnumeratePhysicalDevices(inst, &n, nullptr));
  std::vector<VkPhysicalDevice> d(n);
  if (n) VK_CHECK(vkEnumeratePhysicalDevices(inst, &n, d.data()));
  return d;
}

std::array<uint8_t, 16> device_uuid(VkPhysicalDevice p, std::string* driver = nullptr) {
  VkPhysicalDeviceDriverProperties drv{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceIDProperties id{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES, .pNext = &drv};
  VkPhysicalDeviceProperties2 p2{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &id};
  vkGetPhysicalDeviceProperties2(p, &p2);
  if (driver) *driver = std::string(drv.driverName) + (drv.driverInfo[0] ? std::string(" ") + drv.driverInfo : "");
  std::array<uint8_t, 16> u{};
  std::memcpy(u.data(), id.deviceUUID, u.size());
  return u;
}

ExternalSupport external_support(VkPhysicalDevice p) {
  ExternalSupport e;
  e.memory_fd = has_device_extension(p, VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
  e.semaphore_fd = has_device_extension(p, VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME);
  VkPhysicalDeviceVulkan12Features f12{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 f{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
  vkGetPhysicalDeviceFeatures2(p, &f);
  e.timeline = f12.timelineSemaphore;
  if (e.semaphore_fd && e.timeline) {
    VkSemaphoreTypeCreateInfo type{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                   .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE};
    VkPhysicalDeviceExternalSemaphoreInfo info{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO,
                                               .pNext = &type,
                                               .handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT};
    VkExternalSemaphoreProperties props{.sType = VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
    vkGetPhysicalDeviceExternalSemaphoreProperties(p, &info, &props);
    e.timeline_fd = (props.externalSemaphoreFeatures & VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT) != 0;
  }
  return e;
}

}  // namespace


std::vector<DeviceInfo> list_devices() {
  VkInstance inst = make_instance(false, false);
  std::vector<DeviceInfo> out;
  for (VkPhysicalDevice p : physical_devices(inst)) {
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(p, &props);
    DeviceInfo d{props.deviceName, type_name(props.deviceType), props.apiVersion, usable(p)};
    d.uuid = device_uuid(p, &d.driver);
    d.external = external_support(p);
    out.push_back(std::move(d));
  }
  vkDestroyInstance(inst, nullptr);
  return out;
}

Context::Context(const ContextOptions& opts) {
  const bool have_layer = has_layer(kValidationLayer);
  if (opts.validation.value_or(false) && !have_layer)
    throw Error(ErrorKind::Device, "Vulkan validation requested but VK_LAYER_KHRONOS_validation is not installed "
                                   "(Debian package vulkan-validationlayers)");
#ifdef NDEBUG
  constexpr bool debug_build = false;
#else
  constexpr bool debug_build = true;
#endif
  validation_ = opts.validation.value_or(debug_build && have_layer);
  instance_ = make_instance(validation_, validation_, opts.instance_extensions);
  try {
    if (validation_) {
      VkDebugUtilsMessengerCreateInfoEXT mi{
          .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
          .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
          .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
          .pfnUserCallback = debug_callback,
          .pUserData = this};
      auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
      if (!create) throw Error(ErrorKind::Device, "Vulkan validation: vkCreateDebugUtilsMessengerEXT is unavailable");
      VK_CHECK(create(instance_, &mi, nullptr, &messenger_));
    }
    auto devs = physical_devices(instance_);
    // A window needs a device that can present to it: others are not usable here.
    auto fits = [&](VkPhysicalDevice p) {
      if (!usable(p)) return false;
      if (opts.swapchain && !has_device_extension(p, VK_KHR_SWAPCHAIN_EXTENSION_NAME)) return false;
      if (opts.device_uuid && device_uuid(p) != *opts.device_uuid) return false;
      return !opts.can_present || opts.can_present(instance_, p, static_cast<uint32_t>(graphics_family(p)));
    };
    if (devs.empty()) throw Error(ErrorKind::Device, "no Vulkan device found (install a driver, or mesa-vulkan-drivers for lavapipe)");
    if (opts.gpu >= 0) {
      if (opts.gpu >= static_cast<int>(devs.size()))
        throw Error(ErrorKind::Usage, "--gpu " + std::to_string(opts.gpu) + ": only " + std::to_string(devs.size()) +
                                          " Vulkan device(s) present");
      if (!usable(devs[static_cast<size_t>(opts.gpu)]))
        throw Error(ErrorKind::Device, "--gpu " + std::to_string(opts.gpu) +
                                           ": device lacks Vulkan 1.3 with dynamic rendering and synchronization2");
      if (!fits(devs[static_cast<size_t>(opts.gpu)]))
        throw Error(ErrorKind::Device, "--gpu " + std::to_string(opts.gpu) + ": device cannot present to this window");
      index_ = opts.gpu;
    } else {
      int best_rank = 1 << 20;
      for (size_t i = 0; i < devs.size(); ++i) {
        if (!fits(devs[i])) continue;
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(devs[i], &p);
        if (type_rank(p.deviceType) < best_rank) { best_rank = type_rank(p.deviceType); index_ = static_cast<int>(i); }
      }
      if (index_ < 0 && opts.device_uuid)
        throw Error(ErrorKind::Device, "no usable Vulkan 1.3 device has the CUDA device's UUID " +
                                           uuid_string(*opts.device_uuid));
      if (index_ < 0)
        throw Error(ErrorKind::Device, opts.swapchain ? "no Vulkan 1.3 device that can present to this window found"
                                                      : "no Vulkan 1.3 device with dynamic rendering and synchronization2 found");
    }
    phys_ = devs[static_cast<size_t>(index_)];
    vkGetPhysicalDeviceProperties(phys_, &props_);
    vkGetPhysicalDeviceMemoryProperties(phys_, &mem_);
    name_ = props_.deviceName;
    uuid_ = device_uuid(phys_);
    family_ = static_cast<uint32_t>(graphics_family(phys_));
    if (!opts.quiet)
      std::fprintf(stderr, "netlens: Vulkan device %d: %s (%s, Vulkan %u.%u)\n", index_, name_.c_str(),
                   type_name(props_.deviceType), VK_API_VERSION_MAJOR(props_.apiVersion),
                   VK_API_VERSION_MINOR(props_.apiVersion));

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi{.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                               .queueFamilyIndex = family_, .queueCount = 1, .pQueuePriorities = &prio};
    VkPhysicalDeviceVulkan13Features f13{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES,
                                         .synchronization2 = VK_TRUE, .dynamicRendering = VK_TRUE};
    VkPhysicalDeviceFeatures2 f2{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f13};
    f2.features.independentBlend = VK_TRUE;
    f2.features.shaderClipDistance = VK_TRUE;  // the cutaway plane of focus views
    std::vector<const char*> dev_exts;
    if (opts.swapchain) dev_exts.push_back(VK_KHR_SWAPCHAIN_EXTENSION_NAME);
    VkPhysicalDeviceVulkan12Features f12{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    if (opts.external_interop) {
      external_ = external_support(phys_);
      if (external_.memory_fd) dev_exts.push_back(VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
      if (external_.semaphore_fd) dev_exts.push_back(VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME);
      if (external_.timeline) {
        f12.timelineSemaphore = VK_TRUE;
        f13.pNext = &f12;
      }
    }
    VkDeviceCreateInfo di{.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f2,
                          .queueCreateInfoCount = 1, .pQueueCreateInfos = &qi,
                          .enabledExtensionCount = static_cast<uint32_t>(dev_exts.size()),
                          .ppEnabledExtensionNames = dev_exts.empty() ? nullptr : dev_exts.data()};
    VK_CHECK(vkCreateDevice(phys_, &di, nullptr, &device_));
    vkGetDeviceQueue(device_, family_, 0, &queue_);
    VkCommandPoolCreateInfo pi{.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                               .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT, .queueFamilyIndex = family_};
    VK_CHECK(vkCreateCommandPool(device_, &pi, nullptr, &one_shot_pool_));
  } catch (...) {
    destroy();
    throw;
  }
}

Context::~Context() { destroy(); }

size_t Context::close() {
  if (device_) {
    vkDeviceWaitIdle(device_);
    if (one_shot_pool_) vkDestroyCommandPool(device_, one_shot_pool_, nullptr);
    one_shot_pool_ = VK_NULL_HANDLE;
    vkDestroyDevice(device_, nullptr);  // the messenger is still alive: leaks are reported
    device_ = VK_NULL_HANDLE;
  }
  destroy();
  return validation_error_count();
}

void Context::destroy() {
  if (device_) {
    vkDeviceWaitIdle(device_);
    if (one_shot_pool_) vkDestroyCommandPool(device_, one_shot_pool_, nullptr);
    vkDestroyDevice(device_, nullptr);
    device_ = VK_NULL_HANDLE;
  }
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
    messenger_ = VK_NULL_HANDLE;
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
  instance_ = VK_NULL_HANDLE;
}

int Context::memory_type(uint32_t bits, VkMemoryPropertyFlags flags) const {
  for (uint32_t i = 0; i < mem_.memoryTypeCount; ++i)
    if ((bits & (1u << i)) && (mem_.memoryTypes[i].propertyFlags & flags) == flags) return static_cast<int>(i);
  return -1;
}

VkSampleCountFlagBits Context::msaa_samples(int wanted) const {
  VkPhysicalDeviceVulkan12Properties p12{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES};
  VkPhysicalDeviceProperties2 p2{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &p12};
  vkGetPhysicalDeviceProperties2(phys_, &p2);
  VkSampleCountFlags ok = props_.limits.framebufferColorSampleCounts & props_.limits.framebufferDepthSampleCounts &
                          p12.framebufferIntegerColorSampleCounts;
  for (int s = 64; s > 1; s >>= 1)
    if (s <= wanted && (ok & static_cast<VkSampleCountFlags>(s))) return static_cast<VkSampleCountFlagBits>(s);
  return VK_SAMPLE_COUNT_1_BIT;
}

size_t Context::validation_error_count() const {
  std::lock_guard lock(errors_mutex_);
  return errors_.size();
}

std::vector<std::string> Context::validation_errors() const {
  std::lock_guard lock(errors_mutex_);
  return errors_;
}

VkCommandBuffer Context::begin_one_shot() {
  VkCommandBufferAllocateInfo ai{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                 .commandPool = one_shot_pool_, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                 .commandBufferCount = 1};
  VkCommandBuffer cb;
  VK_CHECK(vkAllocateCommandBuffers(device_, &ai, &cb));
  VkCommandBufferBeginInfo bi{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                              .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VK_CHECK(vkBeginCommandBuffer(cb, &bi));
  return cb;
}

void Context::submit_and_wait(VkCommandBuffer cb) {
  VK_CHECK(vkEndCommandBuffer(cb));
  VkCommandBufferSubmitInfo cbi{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_SUBMIT_INFO, .commandBuffer = cb};
  VkSubmitInfo2 si{.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO_2, .commandBufferInfoCount = 1, .pCommandBufferInfos = &cbi};
  UniqueFence fence;
  VkFenceCreateInfo fi{.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VK_CHECK(vkCreateFence(device_, &fi, nullptr, fence.out(device_)));
  VK_CHECK(vkQueueSubmit2(queue_, 1, &si, fence));
  VkFence f = fence.get();
  VK_CHECK(vkWaitForFences(device_, 1, &f, VK_TRUE, UINT64_MAX));
  vkFreeCommandBuffers(device_, one_shot_pool_, 1, &cb);
}

}  // namespace netlens::render
