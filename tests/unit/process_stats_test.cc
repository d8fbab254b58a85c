// The benchmark's per-thread breakdown (tcc_bench --thread_stats) reads
// /proc/<pid>/task; these run it on threads of this process.
#include "process_stats.h"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tcc/common/thread_name.h"

namespace tcc::bench {
namespace {

absl::Duration ThreadCpu() {
  timespec ts = {};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

// A thread named `name` that, once told to, burns `cpu` of CPU time in
// short bursts with `sleeps` sleeps in between, then waits to be released.
class Worker {
 public:
  Worker(std::string name, absl::Duration cpu, int sleeps)
      : thread_([=, this] {
          NameCurrentThread(name);
          named_.Notify();
          go_.WaitForNotification();
          for (int i = 0; i <= sleeps; ++i) {
            const absl::Duration until =
                ThreadCpu() + cpu / static_cast<int64_t>(sleeps + 1);
            while (ThreadCpu() < until) {
            }
            if (i < sleeps) usleep(1000);
          }
          done_.Notify();
          release_.WaitForNotification();
        }) {
    named_.WaitForNotification();
  }
  ~Worker() {
    if (!go_.HasBeenNotified()) go_.Notify();
    release_.Notify();
    thread_.join();
  }
  void Run() {
    go_.Notify();
    done_.WaitForNotification();
  }

 private:
  absl::Notification named_, go_, done_, release_;
  std::thread thread_;
};

const ThreadUse* Find(const std::vector<ThreadUse>& uses,
                      const std::string& name) {
  auto it = std::find_if(uses.begin(), uses.end(),
                         [&](const ThreadUse& u) { return u.name == name; });
  return it == uses.end() ? nullptr : &*it;
}

TEST(ProcessStatsTest, ReadsEachThreadsNameCpuAndSleeps) {
  Worker burner("stats-burner", absl::Milliseconds(60), 5);
  absl::StatusOr<std::vector<ThreadSample>> before = ProcessThreads(getpid());
  ASSERT_TRUE(before.ok()) << before.status();
  burner.Run();
  absl::StatusOr<std::vector<ThreadSample>> after = ProcessThreads(getpid());
  ASSERT_TRUE(after.ok()) << after.status();

  const std::vector<ThreadUse> uses = ThreadUseBetween(*before, *after);
  const ThreadUse* burned = Find(uses, "stats-burner");
  ASSERT_NE(burned, nullptr);
  EXPECT_EQ(burned->threads, 1);
  EXPECT_GT(burned->cpu, absl::ZeroDuration());  // 60 ms, in clock ticks
  EXPECT_GE(burned->voluntary_switches, 5);      // each usleep
  // Most CPU first: the burner used more than this (waiting) thread.
  EXPECT_EQ(uses.front().name, "stats-burner");
}

// The arithmetic on samples made up here, so that every counter (the
// scheduler's preemptions included, which no test thread can force) is
// checked against a known difference.
TEST(ProcessStatsTest, SumsEachCounterOfAThreadGroupBetweenSamples) {
  auto sample = [](pid_t tid, std::string name, int64_t cpu_ms,
                   int64_t voluntary, int64_t involuntary) {
    ThreadSample t;
    t.tid = tid;
    t.name = std::move(name);
    t.cpu = absl::Milliseconds(cpu_ms);
    t.voluntary_switches = voluntary;
    t.involuntary_switches = involuntary;
    return t;
  };
  const std::vector<ThreadSample> before = {
      sample(10, "tccd-exec-0", 100, 7, 3), sample(11, "tccd-exec-1", 50, 2, 1),
      sample(12, "tccd-log", 400, 90, 40),
      sample(13, "gone", 5, 1, 1),  // ended in between: not counted
  };
  const std::vector<ThreadSample> after = {
      sample(11, "tccd-exec-1", 80, 12, 6), sample(12, "tccd-log", 410, 95, 42),
      sample(10, "tccd-exec-0", 160, 17, 4),
      sample(14, "tccd-exec-2", 999, 99, 99),  // started in between
  };
  const std::vector<ThreadUse> uses = ThreadUseBetween(before, after);
  ASSERT_EQ(uses.size(), 2u);
  EXPECT_EQ(uses[0].name, "tccd-exec");  // 90 ms before tccd-log's 10
  EXPECT_EQ(uses[0].threads, 2);
  EXPECT_EQ(uses[0].cpu, absl::Milliseconds(90));
  EXPECT_EQ(uses[0].voluntary_switches, 20);
  EXPECT_EQ(uses[0].involuntary_switches, 6);
  EXPECT_EQ(uses[1].name, "tccd-log");
  EXPECT_EQ(uses[1].threads, 1);
  EXPECT_EQ(uses[1].cpu, absl::Milliseconds(10));
  EXPECT_EQ(uses[1].voluntary_switches, 5);
  EXPECT_EQ(uses[1].involuntary_switches, 2);
}

TEST(ProcessStatsTest, GroupsThreadsByNameWithoutTheirIndex) {
  Worker first("stats-pair-0", absl::Milliseconds(1), 1);
  Worker second("stats-pair-1", absl::Milliseconds(1), 1);
  Worker other("stats-pair-x", absl::Milliseconds(1), 1);
  absl::StatusOr<std::vector<ThreadSample>> before = ProcessThreads(getpid());
  ASSERT_TRUE(before.ok());
  first.Run();
  second.Run();
  other.Run();
  // A thread started after the first sample is not counted.
  Worker late("stats-pair-2", absl::Milliseconds(1), 1);
  late.Run();
  absl::StatusOr<std::vector<ThreadSample>> after = ProcessThreads(getpid());
  ASSERT_TRUE(after.ok());

  const std::vector<ThreadUse> uses = ThreadUseBetween(*before, *after);
  const ThreadUse* pair = Find(uses, "stats-pair");
  ASSERT_NE(pair, nullptr);
  EXPECT_EQ(pair->threads, 2);
  EXPECT_GE(pair->voluntary_switches, 2);
  const ThreadUse* unindexed = Find(uses, "stats-pair-x");  // not an index
  ASSERT_NE(unindexed, nullptr);
  EXPECT_EQ(unindexed->threads, 1);
}

TEST(ProcessStatsTest, AProcessThatIsGoneIsNotFound) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);  // reaped: no /proc entry
  EXPECT_EQ(ProcessThreads(child).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tcc::bench
