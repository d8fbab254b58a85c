#ifndef TCC_COMMON_THREAD_POOL_H_
#define TCC_COMMON_THREAD_POOL_H_

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace tcc {

// Where blocking work goes (fsync'd writes, waits), never on a gRPC callback
// thread. Thread-safe.
class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `fn` later on one of the executor's threads. After Shutdown() began
  // tasks are still accepted and run before Shutdown() returns.
  virtual void Schedule(absl::AnyInvocable<void() &&> fn) = 0;
  // Whether one of the executor's threads may block for a while (in an
  // fsync, say) without holding up the tasks that wait for a thread: true
  // when another thread is left to run them, or none waits. A task about to
  // block had better hand its wait to another thread otherwise. A hint,
  // stale as soon as it is read; executors that cannot tell say true.
  virtual bool MayBlockOneThread() const { return true; }
  // How many tasks may run at once: work that can be split (the items of a
  // Participant.Batch call) is split into at most this many tasks, so that
  // one slow part does not hold up the rest. Executors that cannot tell say
  // 1.
  virtual int Parallelism() const { return 1; }
};

// A fixed set of threads draining one FIFO queue. Thread i is named
// "<name>-<i>" (see thread_name.h).
class ThreadPool final : public Executor {
 public:
  ThreadPool(std::string name, int threads);
  // Runs Shutdown().
  ~ThreadPool() override;

  void Schedule(absl::AnyInvocable<void() &&> fn) override;
  // With two threads or more, true; with one, whether nothing is queued.
  bool MayBlockOneThread() const override;
  // The number of threads.
  int Parallelism() const override;
  // Runs every queued task (including ones queued meanwhile) and joins the
  // threads. Idempotent. Must not be called from a pool thread.
  void Shutdown();
  // Tasks queued and not yet started.
  size_t QueueLength() const;

 private:
  void Loop();

  const std::string name_;
  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace tcc

#endif  // TCC_COMMON_THREAD_POOL_H_
