#include "tcc/common/thread_pool.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tcc/common/thread_name.h"

namespace tcc {
namespace {

TEST(ThreadPoolTest, RunsEveryTaskInOrderOnOneThread) {
  absl::Mutex mu;
  std::vector<int> ran;
  {
    ThreadPool pool("test", 1);
    for (int i = 0; i < 100; ++i) {
      pool.Schedule([&, i] {
        absl::MutexLock lock(&mu);
        ran.push_back(i);
      });
    }
  }  // Shutdown() runs what is queued
  ASSERT_EQ(ran.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ran[i], i);
}

// `top -H` and perf tell the pool's threads apart by name.
TEST(ThreadPoolTest, NamesEachThreadAfterThePoolAndItsIndex) {
  absl::Mutex mu;
  std::set<std::string> names;
  absl::BlockingCounter both_running(2);
  absl::Notification release;
  {
    ThreadPool pool("bench-participant", 2);
    for (int i = 0; i < 2; ++i) {
      pool.Schedule([&] {
        {
          absl::MutexLock lock(&mu);
          names.insert(CurrentThreadName());
        }
        both_running.DecrementCount();
        release.WaitForNotification();
      });
    }
    both_running.Wait();  // each task holds its own thread
    release.Notify();
  }
  EXPECT_EQ(names,
            (std::set<std::string>{"bench-partici-0", "bench-partici-1"}));
}

TEST(ThreadNameTest, KeepsTheIndexWithinFifteenBytes) {
  EXPECT_EQ(IndexedThreadName("tccd-exec", 0), "tccd-exec-0");
  EXPECT_EQ(IndexedThreadName("a-name-far-too-long", 12), "a-name-far-t-12");
  std::thread named([] {
    NameCurrentThread("a-name-far-too-long");
    EXPECT_EQ(CurrentThreadName(), "a-name-far-too-");
  });
  named.join();
}

TEST(ThreadNameTest, WithoutIndexUndoesIndexedThreadName) {
  EXPECT_EQ(ThreadNameWithoutIndex(IndexedThreadName("tccd-exec", 1)),
            "tccd-exec");
  EXPECT_EQ(ThreadNameWithoutIndex("bench-partici-12"), "bench-partici");
  EXPECT_EQ(ThreadNameWithoutIndex("nexting_thread"), "nexting_thread");
  EXPECT_EQ(ThreadNameWithoutIndex("rocksdb:high"), "rocksdb:high");
  EXPECT_EQ(ThreadNameWithoutIndex("wal-sync"), "wal-sync");
  EXPECT_EQ(ThreadNameWithoutIndex("-1"), "-1");
  EXPECT_EQ(ThreadNameWithoutIndex("trailing-"), "trailing-");
}

// MayBlockOneThread() tells a task whether it may block (for an fsync)
// without holding up the tasks queued behind it.
TEST(ThreadPoolTest, TheOnlyThreadMayBlockOnlyWhenNothingIsQueued) {
  ThreadPool pool("test", 1);
  Executor& executor = pool;
  EXPECT_TRUE(executor.MayBlockOneThread());

  absl::Notification running, release;
  pool.Schedule([&] {
    running.Notify();
    release.WaitForNotification();
  });
  running.WaitForNotification();
  EXPECT_TRUE(executor.MayBlockOneThread()) << "nothing waits for the thread";

  absl::Notification second_ran;
  bool second_may_block = false;
  pool.Schedule([&] {
    second_may_block = executor.MayBlockOneThread();
    second_ran.Notify();
  });
  EXPECT_EQ(pool.QueueLength(), 1u);
  EXPECT_FALSE(executor.MayBlockOneThread());

  release.Notify();
  second_ran.WaitForNotification();
  EXPECT_TRUE(second_may_block) << "nothing was queued behind it";
}

// With two threads, one may block: the other runs what is queued.
TEST(ThreadPoolTest, ParallelismIsTheNumberOfThreads) {
  ThreadPool three("three", 3);
  EXPECT_EQ(three.Parallelism(), 3);
  struct Unknown final : Executor {
    void Schedule(absl::AnyInvocable<void() &&> fn) override {
      std::move(fn)();
    }
  } unknown;
  EXPECT_EQ(unknown.Parallelism(), 1);
}

TEST(ThreadPoolTest, OneOfTwoThreadsMayBlockWhileTasksAreQueued) {
  ThreadPool pool("test", 2);
  absl::Notification release;
  absl::BlockingCounter both_running(2);
  for (int i = 0; i < 2; ++i) {
    pool.Schedule([&] {
      both_running.DecrementCount();
      release.WaitForNotification();
    });
  }
  both_running.Wait();
  pool.Schedule([] {});
  EXPECT_EQ(pool.QueueLength(), 1u);
  EXPECT_TRUE(pool.MayBlockOneThread());
  release.Notify();
}

}  // namespace
}  // namespace tcc
