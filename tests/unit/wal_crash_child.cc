// wal_crash_child: opens a synced barrier store and runs Try after Try, each
// writing one business key, on a few threads, appending the number of each
// acknowledged Try to --acks_file, until the test kills it with SIGKILL.
//
//   wal_crash_child --path=DIR --buffered=true|false --prefix=P
//       --acks_file=PATH [--workers=N]
//       [--unsynced=K: acknowledge each Try when it is committed, before any
//        sync (what no participant may do), stop after K and wait; with
//        --close=true, close the store and exit 0 instead]
//
// Try number i is branch (P-i, "1"); its business key is "biz/P-i".

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tcc/participant/rocksdb_barrier_store.h"

namespace tcc::participant {
namespace {

BranchCall TryCall(const std::string& gid) {
  BranchCall call;
  call.gid = gid;
  call.branch_id = "1";
  return call;
}

absl::Status WriteBusinessKey(const std::string& gid, rocksdb::Transaction& txn,
                              std::string* reply) {
  *reply = "reserved";
  rocksdb::Status s = txn.Put(absl::StrCat("biz/", gid), "1");
  return s.ok() ? absl::OkStatus() : absl::InternalError(s.ToString());
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

int Main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      std::fprintf(stderr, "wal_crash_child: bad argument %s\n", argv[i]);
      return 2;
    }
    flags[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
  RocksDbBarrierStoreOptions options;
  options.path = flags["path"];
  options.sync = true;
  options.buffer_wal_until_sync = flags["buffered"] == "true";
  absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> store =
      RocksDbBarrierStore::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  const int fd =
      open(flags["acks_file"].c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) {
    std::perror("wal_crash_child: open acks");
    return 1;
  }
  const std::string prefix = flags["prefix"];

  if (flags.count("unsynced") > 0) {
    const int count = std::atoi(flags["unsynced"].c_str());
    for (int i = 0; i < count; ++i) {
      const std::string gid = absl::StrCat(prefix, "-", i);
      absl::StatusOr<BarrierResult> result = (*store)->RunDeferred(
          TryCall(gid), Phase::kTry,
          [&](rocksdb::Transaction& txn, std::string* reply) {
            return WriteBusinessKey(gid, txn, reply);
          },
          nullptr);
      if (!result.ok()) {
        std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
        return 1;
      }
      Acknowledge(fd, i);
    }
    if (flags["close"] == "true") {
      store->reset();
      return 0;
    }
    for (;;) pause();
  }

  const int workers =
      flags.count("workers") > 0 ? std::atoi(flags["workers"].c_str()) : 4;
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (;;) {
        const int i = next.fetch_add(1);
        const std::string gid = absl::StrCat(prefix, "-", i);
        absl::StatusOr<BarrierResult> result = (*store)->Run(
            TryCall(gid), Phase::kTry,
            [&](rocksdb::Transaction& txn, std::string* reply) {
              return WriteBusinessKey(gid, txn, reply);
            },
            nullptr);
        if (!result.ok()) {
          std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
          std::_Exit(1);
        }
        Acknowledge(fd, i);
      }
    });
  }
  for (std::thread& t : threads) t.join();  // never: killed first
  return 1;
}

}  // namespace
}  // namespace tcc::participant

int main(int argc, char** argv) { return tcc::participant::Main(argc, argv); }
