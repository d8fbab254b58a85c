// wal_crash_child: opens a synced barrier store and runs Try after Try, each
// writing one business key, on a few threads, appending the number of each
// acknowledged Try to --acks_file, until the test kills it with SIGKILL.
// With --unsynced=K it acknowledges each Try as soon as it is committed,
// before any sync (what no participant may do), stops after K and waits to
// be killed, or with --close closes the store and exits 0.
//
// Try number i is branch (P-i, "1") for --prefix=P; its business key is
// "biz/P-i".

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "tcc/participant/rocksdb_barrier_store.h"

ABSL_FLAG(std::string, path, "", "Barrier store directory.");
ABSL_FLAG(bool, buffered, false,
          "RocksDbBarrierStoreOptions::buffer_wal_until_sync.");
ABSL_FLAG(std::string, prefix, "t", "Gid prefix of this run's Tries.");
ABSL_FLAG(std::string, acks_file, "", "Where acknowledged Tries go.");
ABSL_FLAG(int32_t, workers, 4, "Threads running Tries (synced mode).");
ABSL_FLAG(int32_t, unsynced, 0,
          "If > 0: this many Tries, each acknowledged before any sync.");
ABSL_FLAG(bool, close, false,
          "With --unsynced: close the store and exit instead of waiting.");

namespace tcc::participant {
namespace {

// Try number `n`; waits for the disk when `synced`. Exits the process on
// an error: the test then finds too few acknowledgements.
void RunTry(RocksDbBarrierStore& store, int n, bool synced) {
  BranchCall call;
  call.gid = absl::StrCat(absl::GetFlag(FLAGS_prefix), "-", n);
  call.branch_id = "1";
  auto body = [&](rocksdb::Transaction& txn,
                  std::string* reply) -> absl::Status {
    *reply = "reserved";
    rocksdb::Status s = txn.Put(absl::StrCat("biz/", call.gid), "1");
    return s.ok() ? absl::OkStatus() : absl::InternalError(s.ToString());
  };
  absl::StatusOr<BarrierResult> result =
      synced ? store.Run(call, Phase::kTry, body, nullptr)
             : store.RunDeferred(call, Phase::kTry, body, nullptr);
  if (!result.ok()) {
    std::fprintf(stderr, "wal_crash_child: %s\n",
                 result.status().ToString().c_str());
    std::_Exit(1);
  }
}

// One write() per line, O_APPEND: lines never interleave.
void Acknowledge(int fd, int n) {
  const std::string line = absl::StrCat(n, "\n");
  if (write(fd, line.data(), line.size()) !=
      static_cast<ssize_t>(line.size())) {
    std::perror("wal_crash_child: write acks");
    std::_Exit(1);
  }
}

int Main() {
  RocksDbBarrierStoreOptions options;
  options.path = absl::GetFlag(FLAGS_path);
  options.sync = true;
  options.buffer_wal_until_sync = absl::GetFlag(FLAGS_buffered);
  absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store =
      RocksDbBarrierStore::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  const int fd = open(absl::GetFlag(FLAGS_acks_file).c_str(),
                      O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) {
    std::perror("wal_crash_child: open acks");
    return 1;
  }

  if (const int count = absl::GetFlag(FLAGS_unsynced); count > 0) {
    for (int i = 0; i < count; ++i) {
      RunTry(**store, i, /*synced=*/false);
      Acknowledge(fd, i);
    }
    if (absl::GetFlag(FLAGS_close)) {
      store->reset();
      return 0;
    }
    for (;;) pause();
  }

  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < absl::GetFlag(FLAGS_workers); ++w) {
    threads.emplace_back([&] {
      for (;;) {
        const int i = next.fetch_add(1);
        RunTry(**store, i, /*synced=*/true);
        Acknowledge(fd, i);
      }
    });
  }
  for (std::thread& t : threads) t.join();  // never: killed first
  return 1;
}

}  // namespace
}  // namespace tcc::participant

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tcc::participant::Main();
}
