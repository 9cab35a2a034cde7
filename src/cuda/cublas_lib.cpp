#include "cublas_lib.hpp"

#include <dlfcn.h>

#include <string>
#include <type_traits>

#include "netlens/core.hpp"

namespace netlens::cuda {

const CublasLib& cublas_lib() {
  static const CublasLib lib = [] {
    // The file CMake found first, then its soname on the loader's search path.
    void* h = nullptr;
    std::string why;
    for (const char* name : {NETLENS_CUBLAS_PATH, NETLENS_CUBLAS_SONAME}) {
      if ((h = dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
      const char* e = dlerror();
      why = e ? e : "not found";
    }
    if (!h) throw Error(ErrorKind::Device, "cannot load cuBLAS (" NETLENS_CUBLAS_SONAME "): " + why);
    CublasLib l;
    const auto get = [h](auto& fn, const char* symbol) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, symbol));
      if (!fn) throw Error(ErrorKind::Device, std::string("cuBLAS (" NETLENS_CUBLAS_SONAME ") has no ") + symbol);
    };
    get(l.create, "cublasCreate_v2");
    get(l.destroy, "cublasDestroy_v2");
    get(l.set_stream, "cublasSetStream_v2");
    get(l.set_math_mode, "cublasSetMathMode");
    get(l.set_workspace, "cublasSetWorkspace_v2");
    get(l.sgemm, "cublasSgemm_v2");
    get(l.sgemm_strided_batched, "cublasSgemmStridedBatched");
    get(l.gemm_ex, "cublasGemmEx");
    get(l.gemm_strided_batched_ex, "cublasGemmStridedBatchedEx");
    return l;
  }();
  return lib;
}

}  // namespace netlens::cuda
