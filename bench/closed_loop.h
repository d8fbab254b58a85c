#ifndef TCC_BENCH_CLOSED_LOOP_H_
#define TCC_BENCH_CLOSED_LOOP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "latency_recorder.h"

namespace tcc::bench {

// How one call of the workload ended.
enum class CallResult {
  kCommitted,   // Execute: COMMITTED. Echo: OK.
  kRolledBack,  // Execute: ROLLED_BACK (an abort).
  kError,       // Any non-OK status.
};

// Completes one call; `error` describes a kError result.
using CallDone =
    absl::AnyInvocable<void(CallResult result, std::string_view error) &&>;

// Starts one call on behalf of client `client` (0 <= client < concurrency)
// without blocking, and arranges for `done` to run exactly once when it
// ends, on any thread. A client has at most one call in flight, so the
// workload may keep per-client request objects.
using IssueCall = std::function<void(int client, CallDone done)>;

// What a closed-loop run counted inside its measurement window.
struct ClosedLoopCounts {
  int64_t committed = 0;
  // Committed calls of the whole run, warm-up and drain included.
  int64_t committed_total = 0;
  int64_t rolled_back = 0;
  int64_t errors = 0;
  // The first error seen in the window, for the report.
  std::string first_error;
  // Length of the measurement window.
  absl::Duration window;
};

// N clients, each with exactly one call in flight: when a call ends the
// client immediately issues the next one (from the completion thread, so no
// thread per client). Completions are counted, and their latency recorded,
// only between BeginMeasurement() and EndMeasurement(). Thread-safe.
class ClosedLoop {
 public:
  ClosedLoop(int concurrency, IssueCall issue);
  // Stops the clients and waits for their calls (see StopAndDrain).
  ~ClosedLoop();

  ClosedLoop(const ClosedLoop&) = delete;
  ClosedLoop& operator=(const ClosedLoop&) = delete;

  // Every client issues its first call. Call once.
  void Start();
  void BeginMeasurement();
  void EndMeasurement();
  // Clients issue no further calls; waits up to `timeout` for the calls in
  // flight to end. Returns false if some are still outstanding (the workload
  // must then outlive them). Idempotent.
  bool StopAndDrain(absl::Duration timeout);

  // Counts of the measurement window; call after EndMeasurement().
  ClosedLoopCounts Counts() const;
  LatencyRecorder& latencies() { return state_->latencies; }

 private:
  // Shared with the completion callbacks, which may outlive a timed-out
  // drain.
  struct State {
    IssueCall issue;
    int concurrency = 0;
    std::atomic<bool> stopping{false};
    std::atomic<bool> measuring{false};
    LatencyRecorder latencies;
    mutable absl::Mutex mu;
    int in_flight ABSL_GUARDED_BY(mu) = 0;
    ClosedLoopCounts counts ABSL_GUARDED_BY(mu);
    absl::Time window_start ABSL_GUARDED_BY(mu);
  };
  static void IssueNext(const std::shared_ptr<State>& state, int client);

  std::shared_ptr<State> state_;
  bool started_ = false;
};

}  // namespace tcc::bench

#endif  // TCC_BENCH_CLOSED_LOOP_H_
