// The model end-to-end cases shared by make_model_inputs (fixture setup: writes each case's input
// .npy) and test_models (runs netlens on it and compares every tensor with onnxruntime's).
#pragma once

#include <array>
#include <ostream>
#include <string>

#include "netlens/io.hpp"

namespace netlens::model_tests {

enum class Prep { Det, Rec };  // PaddleOCR's two normalisations (see assets/samples/README.md)

struct ModelCase {
  const char* name;   // also the case's folder under the data dir
  const char* model;  // file under <cache>/models
  const char* input;  // the model's (only) input
  const char* image;  // file under assets/samples, or "" for a random input
  int height, width;  // input is 1x3xHxW
  Prep prep;
  unsigned seed;      // random inputs only
};

// det runs at two sizes (the model's H and W are dynamic), rec and cls at their native line sizes,
// and each model once on a seeded random input of yet another size.
inline constexpr std::array<ModelCase, 8> kCases{{
    {"det_page_800x608", "ppocrv4_det.onnx", "x", "page_800x608.png", 608, 800, Prep::Det, 0},
    {"det_page_640x640", "ppocrv4_det.onnx", "x", "page_800x608.png", 640, 640, Prep::Det, 0},
    {"det_random_256x320", "ppocrv4_det.onnx", "x", "", 256, 320, Prep::Det, 1234},
    {"rec_line_48x320", "ppocrv4_rec.onnx", "x", "line_320x48.png", 48, 320, Prep::Rec, 0},
    {"rec_random_48x160", "ppocrv4_rec.onnx", "x", "", 48, 160, Prep::Rec, 2345},
    {"cls_line_48x192", "ppocr_cls.onnx", "x", "line_192x48.png", 48, 192, Prep::Rec, 0},
    {"cls_flipped_48x192", "ppocr_cls.onnx", "x", "line_192x48_flipped.png", 48, 192, Prep::Rec, 0},
    {"cls_random_48x192", "ppocr_cls.onnx", "x", "", 48, 192, Prep::Rec, 3456},
}};

// torchvision CNNs with random weights (scripts/export-torchvision.sh), on random inputs; built
// only with -DNETLENS_TORCHVISION_TESTS=ON. prep is unused for random inputs.
inline constexpr std::array<ModelCase, 4> kTorchvisionCases{{
    {"resnet50_random_224", "resnet50.onnx", "input", "", 224, 224, Prep::Det, 4567},
    {"mobilenet_v2_random_224", "mobilenet_v2.onnx", "input", "", 224, 224, Prep::Det, 5678},
    {"vgg16_random_224", "vgg16.onnx", "input", "", 224, 224, Prep::Det, 6789},
    {"efficientnet_b0_random_224", "efficientnet_b0.onnx", "input", "", 224, 224, Prep::Det, 7890},
}};

// gtest prints a parameter with this (test listings show the case name, not raw bytes).
inline void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

// PaddleOCR reads images with OpenCV (BGR) and applies its constants in that channel order.
inline ImagePreprocess preprocess_for(const ModelCase& c) {
  ImagePreprocess pp;
  pp.width = c.width;
  pp.height = c.height;
  pp.bgr = true;
  pp.scale = 1.0f / 255.0f;
  if (c.prep == Prep::Det) {
    pp.mean = {0.485f, 0.456f, 0.406f};
    pp.std = {0.229f, 0.224f, 0.225f};
  } else {
    pp.mean = {0.5f, 0.5f, 0.5f};
    pp.std = {0.5f, 0.5f, 0.5f};
  }
  return pp;
}

}  // namespace netlens::model_tests
