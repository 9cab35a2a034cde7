// libFuzzer entry for image files: any bytes must be decoded (io::decode_image, stb behind the
// header check) and resized, or refused with netlens::Error, never crash, hang or allocate wildly.
// The pixel limit is 2^22 here instead of 2^28, so one input decodes in milliseconds and the
// fuzzer's 4 GiB memory limit is never what stops it. Each decoded image is resized to small fixed
// sizes (RGB and grey) and to a size derived from its own dimensions, so the resampler sees
// shrinking, enlarging and odd ratios on arbitrary pixels (small outputs keep the fuzzer fast; the
// resampler's code does not depend on the output size beyond that).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "netlens/io.hpp"

namespace {

void resize_to(const netlens::DecodedImage& im, int w, int h, int channels) {
  netlens::ImagePreprocess pp;
  pp.width = w;
  pp.height = h;
  pp.channels = channels;
  const netlens::Tensor t = netlens::preprocess_pixels(im.pixels.data(), im.width, im.height, 3, pp, "fuzz");
  const float* v = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(v[i])) std::abort();  // a resize of 0..255 values must stay finite
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const netlens::DecodedImage im = netlens::decode_image(data, size, 3, "fuzz", int64_t{1} << 22);
    resize_to(im, 32, 32, 3);
    resize_to(im, 24, 17, 1);
    resize_to(im, 1 + (im.width * 7 + im.height) % 61, 1 + (im.height * 13 + im.width) % 47, 3);
  } catch (const netlens::Error&) {
  }
  return 0;
}
