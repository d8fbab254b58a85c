// barrier_crash_child: opens a barrier store, runs one phase of one branch
// whose handler applies the phase's effect (barrier_store_harness.h), then
// creates --ready_file and waits inside the handler, transaction open, for
// the test to kill it.
//
//   barrier_crash_child --store=rocksdb --path=DIR | --store=postgres
//       --conninfo=CONNINFO  --gid=G --branch_id=B --phase=try|confirm|cancel
//       --ready_file=PATH

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "barrier_store_harness.h"

namespace tcc::participant::barrier_test {
namespace {

// Creates the file, then never returns.
[[noreturn]] void SignalReadyAndWait(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) close(fd);
  for (;;) pause();
}

template <class Store, class Txn, class AddEffect>
int RunPhase(Store* store, const BranchCall& call, Phase phase,
             const std::string& ready_file, AddEffect add_effect) {
  absl::StatusOr<BarrierResult> result = store->Run(
      call, phase,
      [&](Txn& txn, std::string*) -> absl::Status {
        absl::Status written = add_effect(txn, EffectKey(call, phase));
        if (!written.ok()) return written;
        SignalReadyAndWait(ready_file);
      },
      nullptr);
  std::fprintf(stderr,
               "barrier_crash_child: returned without being killed: %s\n",
               result.ok() ? BarrierResultName(*result)
                           : result.status().ToString().c_str());
  return 1;
}

int Main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      std::fprintf(stderr, "barrier_crash_child: bad argument %s\n", argv[i]);
      return 2;
    }
    flags[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
  const BranchCall call = Call(flags["gid"], flags["branch_id"]);
  const std::string& phase_name = flags["phase"];
  const Phase phase = phase_name == "try"       ? Phase::kTry
                      : phase_name == "confirm" ? Phase::kConfirm
                                                : Phase::kCancel;
  if (flags["store"] == "rocksdb") {
    RocksDbBarrierStoreOptions options;
    options.path = flags["path"];
    options.sync = false;
    auto store = RocksDbBarrierStore::Open(options);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    return RunPhase<RocksDbBarrierStore, rocksdb::Transaction>(
        store->get(), call, phase, flags["ready_file"],
        &RocksDbHarness::AddEffect);
  }
#ifdef TCC_HAVE_POSTGRES
  if (flags["store"] == "postgres") {
    PostgresBarrierStoreOptions options;
    options.conninfo = flags["conninfo"];
    auto store = PostgresBarrierStore::Open(options);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    return RunPhase<PostgresBarrierStore, pqxx::work>(
        store->get(), call, phase, flags["ready_file"],
        &PostgresHarness::AddEffect);
  }
#endif
  std::fprintf(stderr, "barrier_crash_child: unknown --store\n");
  return 2;
}

}  // namespace
}  // namespace tcc::participant::barrier_test

int main(int argc, char** argv) {
  return tcc::participant::barrier_test::Main(argc, argv);
}
