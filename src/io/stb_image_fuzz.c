// Fuzz builds only (NETLENS_FUZZ): stb_image compiled from Debian's header, the source libstb.so is
// built from, into netlens_io, so the decoder the image fuzzer drives carries coverage and ASan
// instrumentation (the shared library has neither: the fuzzer would run blind inside it). These
// definitions take precedence over libstb.so's when linking.
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
