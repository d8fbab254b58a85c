#include "tcc/common/thread_pool.h"

#include <utility>

#include "tcc/common/thread_name.h"

namespace tcc {

ThreadPool::ThreadPool(std::string name, int threads) : name_(std::move(name)) {
  if (threads < 1) threads = 1;
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this, i] {
      NameCurrentThread(IndexedThreadName(name_, i));
      Loop();
    });
  }
}

ThreadPool::~ThreadPool() { Shutdown(); }

void ThreadPool::Schedule(absl::AnyInvocable<void() &&> fn) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(fn));
}

size_t ThreadPool::QueueLength() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

bool ThreadPool::MayBlockOneThread() const {
  return threads_.size() > 1 || QueueLength() == 0;
}

int ThreadPool::Parallelism() const {
  return static_cast<int>(threads_.size());
}

void ThreadPool::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  for (auto& t : threads_) t.join();
}

void ThreadPool::Loop() {
  for (;;) {
    absl::AnyInvocable<void() &&> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ThreadPool* p) ABSL_SHARED_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)();
  }
}

}  // namespace tcc
