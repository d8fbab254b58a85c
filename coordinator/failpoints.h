#ifndef TCC_COORDINATOR_FAILPOINTS_H_
#define TCC_COORDINATOR_FAILPOINTS_H_

#include <atomic>

namespace tcc::coordinator {

// Named crash points at the coordinator's persist/send boundaries, for the
// crash tests. Off unless the environment variable TCC_CRASH_AT is set when
// InitFailpointsFromEnv() runs: "NAME" crashes at the first hit of NAME,
// "NAME@N" at the N-th. A crash is _exit-like (SIGKILL to self): no
// destructors, no flushes, exactly what kill -9 does. When off, a failpoint
// costs one relaxed atomic load.
//
// Names: before_create_write, after_create_write, after_try_sent,
// before_decision_write, after_decision_write, after_phase_two_sent,
// before_final_write, after_final_write.
void InitFailpointsFromEnv();
void HitFailpoint(const char* name);

extern std::atomic<bool> g_failpoints_enabled;

}  // namespace tcc::coordinator

#define TCC_FAILPOINT(name)                            \
  do {                                                 \
    if (::tcc::coordinator::g_failpoints_enabled.load( \
            std::memory_order_relaxed)) {              \
      ::tcc::coordinator::HitFailpoint(name);          \
    }                                                  \
  } while (0)

#endif  // TCC_COORDINATOR_FAILPOINTS_H_
