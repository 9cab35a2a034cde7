// A thread's CPU priority (Linux nice value), for work that should take only the CPU time the
// window leaves: the window's first run (app::BackgroundRun) while lavapipe rasterises the frames
// on the same cores.
#pragma once

namespace netlens::app {

// Lowers the calling thread's CPU priority: its nice value goes up by `steps` (clamped to 19; 0 or
// less leaves it). Linux keeps a nice value per thread and a new thread starts with its creator's, so
// the threads this one creates afterwards get it too: the OpenMP pool of the parallel regions it
// enters (libgomp keeps one pool per thread that starts a region), hence oneDNN's workers. Other
// threads of the process keep theirs. Raising a nice value needs no privilege; lowering it again
// needs CAP_SYS_NICE, so use it on a thread of its own that ends with the work.
// Returns the thread's nice value afterwards as getpriority reads it (after a refusal: the old one).
int lower_thread_priority(int steps);

// The calling thread's nice value (getpriority on its thread id).
int thread_nice();

}  // namespace netlens::app
