// make_model_inputs SAMPLES_DIR DATA_DIR [--torchvision]
// Writes DATA_DIR/<case>/input.npy and DATA_DIR/<case>/model.txt ("<model file> <input name>") for
// every model test case (--torchvision: the torchvision cases too): the sample image preprocessed the PaddleOCR way (through netlens' own image loader), or a
// seeded uniform random tensor in [-1, 1]. Both netlens and onnxruntime then read the same file, so
// any difference is the engine's.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "model_cases.hpp"
#include "netlens/core.hpp"
#include "netlens/io.hpp"

using namespace netlens;
using namespace netlens::model_tests;

int main(int argc, char** argv) {
  const bool torchvision = argc == 4 && std::string(argv[3]) == "--torchvision";
  if (argc != 3 && !torchvision) {
    std::cerr << "usage: make_model_inputs SAMPLES_DIR DATA_DIR [--torchvision]\n";
    return 2;
  }
  const std::filesystem::path samples = argv[1], data = argv[2];
  std::vector<ModelCase> cases(kCases.begin(), kCases.end());
  if (torchvision) cases.insert(cases.end(), kTorchvisionCases.begin(), kTorchvisionCases.end());
  try {
    for (const ModelCase& c : cases) {
      Tensor x;
      if (*c.image) {
        x = load_image((samples / c.image).string(), preprocess_for(c));
      } else {
        x = Tensor(DType::Float32, {1, 3, c.height, c.width});
        // mt19937 is specified bit for bit; the float mapping is ours so that every standard
        // library produces the same tensor.
        std::mt19937 rng(c.seed);
        float* p = x.data_as<float>();
        for (int64_t i = 0; i < x.numel(); ++i) p[i] = static_cast<float>(rng()) / 2147483648.0f - 1.0f;
      }
      const Shape want{1, 3, c.height, c.width};
      if (x.dtype() != DType::Float32 || x.shape() != want) {
        std::cerr << "make_model_inputs: " << c.name << ": got a " << dtype_name(x.dtype()) << " "
                  << shape_str(x.shape()) << " input, expected float32 " << shape_str(want) << "\n";
        return 1;
      }
      std::filesystem::create_directories(data / c.name);
      write_npy((data / c.name / "input.npy").string(), x);
      std::ofstream((data / c.name / "model.txt").string()) << c.model << " " << c.input << "\n";
    }
  } catch (const Error& e) {
    std::cerr << "make_model_inputs: " << e.what() << "\n";
    return 1;
  }
  std::cout << "make_model_inputs: " << cases.size() << " inputs in " << data.string() << "\n";
  return 0;
}
