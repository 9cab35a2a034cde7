// What the run-a-model subcommands (info, infer, bench, render, view...) share: the flags that
// choose a model, its inputs and a backend, and the code that loads, prepares and runs it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netlens/cli/command.hpp"
#include "netlens/cuda.hpp"
#include "netlens/graph.hpp"
#include "netlens/io.hpp"
#include "netlens/runtime.hpp"
#include "netlens/text.hpp"

namespace netlens::cli {

// Flags understood by parse_model_options (append to a command's own flag list).
extern const std::vector<std::string> kModelFlags;       // take a value
extern const std::vector<std::string> kModelBoolFlags;   // booleans
extern const std::vector<std::string> kModelRepeated;    // may repeat
std::string model_flags_help();

struct ModelOptions {
  std::string model;
  std::vector<std::string> inputs;                  // "FILE" or "NAME=FILE"
  std::map<std::string, Shape> input_shapes;        // --input-shape NAME=1x3x224x224
  std::string backend = "auto";                     // cpu | cuda | auto
  std::string precision = "fp32";                   // --precision fp32 | tf32 | fp16 (CUDA only)
  size_t max_memory = 0;                            // --max-memory 2G
  ImagePreprocess pp;                               // image flags
  bool size_given = false;
  bool quiet = false;
  bool profile = false;  // time every node (bench --profile)
  // --text "...": bound to the model's text input (the only input, or the only integer one), one
  // token per character; ids from --vocab FILE or the model's <stem>.vocab.json/.txt, else bytes.
  std::optional<std::string> text;
  std::string vocab;
  std::string tokenizer;  // --tokenizer char|word|wordpiece; "" = the vocabulary's declared one, else char
  // Where the CUDA backend's activation arena lives (SessionOptions::arena_allocator; the live
  // interop path puts it in Vulkan-exported memory). Empty: the backends' own memory.
  std::function<DeviceBuffer(Backend&, size_t)> arena_allocator;
  // load_model only plans the session's shapes (Session::plan_shapes: types, shapes, memory check)
  // and leaves prepare() to the caller, on the thread that will run it: the window's progressive
  // start lays out the structure from the plan and prepares once, on its run's thread.
  bool plan_only = false;
};
// `size_is_image`: whether --size means the input image size (info/infer/bench) or belongs to the
// command (render: the frame size); --input-size always means the image size.
// "0.485,0.456,0.406" → floats (the --mean/--std/--scale flags). Error{Usage} naming the flag on bad text.
std::vector<float> parse_floats(const std::string& flag, const std::string& v);

// What an input file holds, from its first bytes rather than its name (a camera's PHOTO.JPG, a
// .bmp, a download saved without extension; a PNG named .jpg is still a PNG): a .npy array, an
// image decode_image reads (PNG, JPEG, BMP), or neither (also for unreadable files).
enum class InputKind { Npy, Image, Other };
InputKind input_kind(const std::string& path);
ModelOptions parse_model_options(const Args& a, bool size_is_image = true);

// Backends in priority order, the host CPU backend last. "auto" uses CUDA when a device is usable
// and says which it picked on stderr. `precision` (fp32|tf32|fp16) is the CUDA backend's; the CPU
// backend computes in fp32, so anything else without a usable CUDA device is Error{Usage}.
std::vector<std::unique_ptr<Backend>> make_backends(const std::string& which, bool quiet,
                                                    const std::string& precision = "fp32");
// CUDA backend, or Error{Device} with the reason (built without CUDA, no device...).
std::unique_ptr<Backend> make_cuda_backend_or_throw(const std::string& precision = "fp32");
// CUDA device 0 as `info --system` reports it (usable false with the reason when there is none or
// netlens was built without CUDA). Never throws.
CudaDeviceInfo probe_cuda();
// `info --system`'s Vulkan part: every Vulkan device and the live data path this machine gets
// (live/data_path.hpp), or a line saying netlens was built without Vulkan.
void print_vulkan_system(const CudaDeviceInfo& cuda, const std::string& interop);

// Optional parts of the build register themselves here, as subcommands do (command.hpp): each is a
// source compiled into the executable (or the Python module) only when its target exists
// (src/cli/CMakeLists.txt: backend_cuda.cpp with netlens_cuda, system_vulkan.cpp with netlens_app,
// the interop module registers its live path with live itself), whose static OptionalPartRegistrar fills its field at
// start-up. An empty field means "not built": the functions above then say so in one line. No stub
// file pairs, no compile definitions.
struct OptionalParts {
  std::function<std::unique_ptr<Backend>(const std::string& precision)> make_cuda;  // CUDA backend
  std::function<CudaDeviceInfo()> probe_cuda;
  std::function<void(const CudaDeviceInfo&, const std::string& interop)> print_vulkan_system;
};
OptionalParts& optional_parts();
struct OptionalPartRegistrar {
  explicit OptionalPartRegistrar(const std::function<void(OptionalParts&)>& fill) { fill(optional_parts()); }
};

// Progress on a terminal (stderr is a tty), nothing otherwise.
class Progress {
 public:
  explicit Progress(std::string label, bool quiet = false);
  ~Progress();
  void update(size_t done, size_t total);
  void done();

 private:
  std::string label_;
  bool tty_;
  std::chrono::steady_clock::time_point last_;
  bool shown_ = false;
};

// A loaded model with its backends and a session, ready to run.
struct LoadedModel {
  Graph graph;  // as loaded (the session holds its own copy)
  std::vector<std::unique_ptr<Backend>> backends;
  std::unique_ptr<Session> session;
  std::map<std::string, Tensor> inputs;  // host inputs bound from --input/--text (may be empty)
  TextTokens text;                        // --text's tokens (empty without --text)
  std::string text_input;                 // the graph input --text was bound to
  double load_ms = 0, prepare_ms = 0;
  std::shared_ptr<Progress> run_progress;  // fed by the session while it runs
};

// Loads the model, reads the inputs (npy as is, images with the preprocessing flags, sized from the
// model's declared input shape when --size is absent), makes the session and prepares it.
// With `need_inputs` and no --input, every graph input gets random values in [0,1) (seeded), which
// needs fixed or --input-shape dims.
LoadedModel load_model(const ModelOptions& o, bool need_inputs, std::optional<Graph> loaded = std::nullopt);
// Runs once with progress; returns milliseconds.
double run_once(LoadedModel& m);

// Non-finite counts of a host tensor (floats only; zero for others).
struct NonFinite { int64_t nan = 0, inf = 0; };
NonFinite count_non_finite(const Tensor& t);
// Prints the tensors of the last run that hold NaN/Inf ("non-finite values:" then one row each), or
// "non-finite none (all N tensors finite)".
void print_non_finite(const Session& s);

std::string json_escape(const std::string& s);
std::string human_bytes(size_t bytes);
std::string human_count(double v);  // 25.6M, 4.1G

}  // namespace netlens::cli
