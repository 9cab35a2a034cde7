#include "netlens/app/thread_priority.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace netlens::app {

int thread_nice() {
  // PRIO_PROCESS with a thread id addresses that one thread on Linux (its own nice value). -1 is
  // also a valid nice value: errno tells it from a failure (then 0, the default, is reported).
  errno = 0;
  const int v = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  return errno ? 0 : v;
}

int lower_thread_priority(int steps) {
  if (steps > 0) setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), std::min(19, thread_nice() + steps));
  return thread_nice();
}

}  // namespace netlens::app
