// recovery_bench: how fast a restarted tccd comes back with a large backlog.
//
//   recovery_bench --transactions=100000 [--tccd=PATH] [--participant=PATH]
//
// Writes N unfinished 2-branch transactions straight into a fresh
// transaction log — half caught in their Try phase (TRYING: recovery must
// decide and write the rollback), half decided to roll back (CANCELLING) —
// what a crash under load leaves (the participants never saw the Tries, so
// every Cancel is an empty cancel), starts two bench participants and tccd on
// it, and measures: time until the health service answers SERVING, time until
// every transaction is final, and tccd's peak resident memory while it drains
// the backlog (recovery drives at most --max_recovering at once).

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "child_process.h"
#include "coordinator/transaction_log.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "process_stats.h"
#include "tcc/common/thread_pool.h"
#include "tcc/v1/coordinator.grpc.pb.h"

ABSL_FLAG(int64_t, transactions, 100000, "Unfinished transactions to seed.");
ABSL_FLAG(int32_t, max_recovering, 2000,
          "tccd --max_recovering (transactions driven at once).");
ABSL_FLAG(std::string, tccd, "", "tccd binary (default: next to this one).");
ABSL_FLAG(std::string, participant, "",
          "bench_participant binary (default: next to this one).");
ABSL_FLAG(std::string, work_dir, "", "Scratch directory (default: mkdtemp).");

namespace {

using tcc::bench::ChildProcess;
namespace v1 = tcc::v1;

std::string Sibling(const std::string& name, const std::string& rel) {
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path() / rel / name).lexically_normal().string();
}

// Writes `n` unfinished transactions, 2 branches each, with group commits
// of many concurrent writes.
absl::Status Seed(const std::string& path, int64_t n) {
  tcc::ThreadPool executor("seed", 2);
  tcc::coordinator::TransactionLogOptions options;
  options.path = path;
  options.callback_executor = &executor;
  auto log = tcc::coordinator::TransactionLog::Open(options);
  if (!log.ok()) return log.status();
  absl::Mutex mu;
  int64_t done = 0;
  absl::Status first_error;
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  for (int64_t i = 0; i < n; ++i) {
    tcc::internal::StoredTransaction record;
    v1::Transaction* t = record.mutable_txn();
    t->set_gid(absl::StrCat("backlog-", i));
    t->set_mode(v1::MODE_EXECUTE);
    const bool trying = i % 2 == 0;
    t->set_state(trying ? v1::TRYING : v1::CANCELLING);
    t->set_outcome(trying ? v1::OUTCOME_PENDING : v1::ROLLED_BACK);
    t->set_create_unix_ms(now_ms);
    t->set_deadline_unix_ms(now_ms + 10000);
    for (int b = 1; b <= 2; ++b) {
      v1::Branch* br = t->add_branches();
      br->set_branch_id(absl::StrCat(b));
      br->set_participant(absl::StrCat("p", b));
      br->set_action("reserve");
      br->set_payload("x");
      br->set_state(v1::BRANCH_PENDING);
    }
    (*log)->Write(tcc::coordinator::LogWrite::Of(&record, 0, /*sync=*/true),
                  [&](absl::Status s, const tcc::internal::StoredTransaction*) {
                    absl::MutexLock lock(&mu);
                    if (!s.ok() && first_error.ok()) first_error = s;
                    ++done;
                  });
    if (i % 10000 == 9999) {  // bound the queue
      absl::MutexLock lock(&mu);
      const int64_t target = i + 1;
      auto caught_up = [&]() { return done >= target; };
      mu.Await(absl::Condition(&caught_up));
    }
  }
  {
    absl::MutexLock lock(&mu);
    auto all = [&]() { return done == n; };
    mu.Await(absl::Condition(&all));
  }
  (*log)->Close();
  return first_error;
}

// grpc.health.v1.Health/Check with an empty request: true if SERVING.
bool HealthServing(grpc::GenericStub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(200));
  grpc::ByteBuffer request, response;
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  absl::Mutex mu;
  bool finished = false;
  grpc::Status status;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                 &request, &response, [&](grpc::Status s) {
                   absl::MutexLock lock(&mu);
                   status = s;
                   finished = true;
                 });
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&finished));
  if (!status.ok()) return false;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const auto& s : slices) bytes.append(s.begin(), s.end());
  return bytes == std::string("\x08\x01", 2);  // status: SERVING
}

int64_t Remaining(v1::Coordinator::Stub& stub) {
  int64_t n = 0;
  v1::ListRequest req;
  req.add_states(v1::TRYING);
  req.add_states(v1::CONFIRMING);
  req.add_states(v1::CANCELLING);
  req.set_page_size(1000);
  for (;;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    v1::ListResponse resp;
    if (!stub.List(&ctx, req, &resp).ok()) return -1;
    n += resp.transactions_size();
    if (resp.next_page_token().empty()) return n;
    req.set_page_token(resp.next_page_token());
  }
}

int Run() {
  const int64_t n = absl::GetFlag(FLAGS_transactions);
  std::string work = absl::GetFlag(FLAGS_work_dir);
  if (work.empty()) {
    char tmpl[] = "/tmp/tcc-recovery-XXXXXX";
    work = mkdtemp(tmpl);
  }
  const std::string tccd_bin = absl::GetFlag(FLAGS_tccd).empty()
                                   ? Sibling("tccd", "../coordinator")
                                   : absl::GetFlag(FLAGS_tccd);
  const std::string part_bin = absl::GetFlag(FLAGS_participant).empty()
                                   ? Sibling("bench_participant", ".")
                                   : absl::GetFlag(FLAGS_participant);
  std::printf("seeding %lld unfinished transactions into %s/tccd ...\n",
              static_cast<long long>(n), work.c_str());
  absl::Time t0 = absl::Now();
  if (absl::Status s = Seed(work + "/tccd", n); !s.ok()) {
    std::fprintf(stderr, "seed: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("seeded in %.1f s\n", absl::ToDoubleSeconds(absl::Now() - t0));

  std::vector<std::unique_ptr<ChildProcess>> participants;
  std::ofstream config(work + "/participants.textproto");
  for (int i = 1; i <= 2; ++i) {
    std::string name = absl::StrCat("p", i);
    auto p = ChildProcess::Start(
        {part_bin, "--listen=127.0.0.1:0", "--data_dir=" + work + "/" + name,
         "--port_file=" + work + "/" + name + ".port"},
        work + "/" + name + ".log");
    if (!p.ok()) return 1;
    auto port =
        (*p)->WaitForPortFile(work + "/" + name + ".port", absl::Seconds(30));
    if (!port.ok()) return 1;
    config << "participant { name: \"" << name
           << "\" target: \"127.0.0.1:" << *port << "\" channels: 2 }\n";
    participants.push_back(*std::move(p));
  }
  config.close();

  absl::Time start = absl::Now();
  auto tccd = ChildProcess::Start(
      {tccd_bin, "--listen=127.0.0.1:0", "--data_dir=" + work + "/tccd",
       "--config=" + work + "/participants.textproto",
       "--port_file=" + work + "/tccd.port",
       absl::StrCat("--max_recovering=", absl::GetFlag(FLAGS_max_recovering))},
      work + "/tccd.log");
  if (!tccd.ok()) return 1;
  auto port = (*tccd)->WaitForPortFile(work + "/tccd.port", absl::Seconds(30));
  if (!port.ok()) return 1;
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", *port),
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub generic(channel);
  while (!HealthServing(generic)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const absl::Duration to_health = absl::Now() - start;
  std::printf("health SERVING after %.3f s\n",
              absl::ToDoubleSeconds(to_health));

  std::atomic<bool> done{false};
  std::atomic<int64_t> peak_rss{0};
  std::thread sampler([&] {
    while (!done.load()) {
      auto rss = tcc::bench::ProcessRssBytes((*tccd)->pid());
      if (rss.ok() && *rss > peak_rss.load()) peak_rss = *rss;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto stub = v1::Coordinator::NewStub(channel);
  int64_t left = n;
  while (left > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    left = Remaining(*stub);
    if (left < 0) {
      std::fprintf(stderr, "List failed\n");
      break;
    }
    std::printf("  %6.1f s: %lld left, tccd RSS %.0f MiB\n",
                absl::ToDoubleSeconds(absl::Now() - start),
                static_cast<long long>(left), peak_rss.load() / 1048576.0);
  }
  const absl::Duration to_drain = absl::Now() - start;
  done = true;
  sampler.join();
  std::printf(
      "\nrecovery of %lld transactions: health %.3f s, all final %.1f s "
      "(%.0f tx/s), tccd peak RSS %.0f MiB\n",
      static_cast<long long>(n), absl::ToDoubleSeconds(to_health),
      absl::ToDoubleSeconds(to_drain), n / absl::ToDoubleSeconds(to_drain),
      peak_rss.load() / 1048576.0);
  (*tccd)->Stop();
  for (auto& p : participants) p->Stop();
  std::filesystem::remove_all(work);
  return left == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return Run();
}
