// oneDNN's sgemm sets itself up on its first call: it generates all its JIT GEMM kernels then
// (22-25 ms on the Sapphire Rapids VM, one thread), and that call was the first run's first sgemm
// node (ResNet-50's layer1.0/conv1: 26 ms on its first run, 0.8 ms after).
#pragma once

#include <oneapi/dnnl/dnnl.h>

namespace netlens::cpu {

// Starts that set-up on a thread of its own, once per process, so that it overlaps planning (the
// rest of prepare) instead of the first run; an sgemm call that comes before it is done waits in
// oneDNN for it, as it would have set up itself. Called where a kernel that will call dnnl_sgemm on
// matrices is planned, not for every model: MobileNetV2 never calls it, and on 2 cores the thread
// would compete with its first run. Later calls return at once; thread-safe.
// NETLENS_SGEMM_WARMUP=0 turns it off (to measure).
void start_sgemm_warmup();

// The same for a planned oneDNN primitive, when its implementation is gemm-based (ResNet-50: 7 of
// its convs are "x64:gemm:jit"): such a primitive calls the same sgemm.
void start_sgemm_warmup_for(const_dnnl_primitive_desc_t pd);

// Waits for that thread (a no-op when none runs or it was joined). The CPU backend's destructor
// calls it, so that a process ends only after the thread: oneDNN's static objects, made by that
// thread after anything of ours, are destroyed first at exit.
void finish_sgemm_warmup();

}  // namespace netlens::cpu
