#include "reservation_handlers.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/memtablerep.h"
#include "rocksdb/slice_transform.h"
#include "tcc/participant/rocksdb_status.h"

namespace tcc::bench {
namespace {

using participant::BranchCall;
using participant::FromRocksDbStatus;

constexpr uint64_t kSlots = 1024;

std::string HoldKey(const BranchCall& call) {
  return absl::StrCat("hold/", call.gid, "/", call.branch_id);
}

uint64_t Slot(const BranchCall& call) {
  return absl::HashOf(call.gid, call.branch_id) % kSlots;
}

// Adds `delta` to the little-endian int64 counter at `key`, locking it.
absl::Status AddToCounter(rocksdb::Transaction& txn, const std::string& key,
                          int64_t delta) {
  std::string value;
  rocksdb::Status s = txn.GetForUpdate(rocksdb::ReadOptions(), key, &value);
  int64_t counter = 0;
  if (s.ok() && value.size() == sizeof(counter)) {
    std::memcpy(&counter, value.data(), sizeof(counter));
  } else if (!s.ok() && !s.IsNotFound()) {
    return FromRocksDbStatus(s, absl::StrCat("read ", key));
  }
  counter += delta;
  value.assign(reinterpret_cast<const char*>(&counter), sizeof(counter));
  return FromRocksDbStatus(txn.Put(key, value), absl::StrCat("write ", key));
}

}  // namespace

participant::ResourceHandlers<rocksdb::Transaction> ReservationHandlers() {
  participant::ResourceHandlers<rocksdb::Transaction> handlers;
  handlers.try_fn = [](const BranchCall& call, rocksdb::Transaction& txn,
                       std::string*) -> absl::Status {
    absl::Status s =
        FromRocksDbStatus(txn.Put(HoldKey(call), call.payload), "write hold");
    if (!s.ok()) return s;
    return AddToCounter(txn, absl::StrCat("reserved/", Slot(call)), 1);
  };
  // A hold is put once (the barrier runs a branch's Try at most once) and
  // deleted at most once (by its Confirm or its Cancel, never both), so a
  // SingleDelete removes it: when both land in one memtable, which they
  // nearly always do, the flush drops the pair instead of keeping a
  // tombstone for compactions to carry down.
  handlers.confirm_fn = [](const BranchCall& call, rocksdb::Transaction& txn,
                           std::string*) -> absl::Status {
    absl::Status s =
        FromRocksDbStatus(txn.SingleDelete(HoldKey(call)), "delete hold");
    if (!s.ok()) return s;
    return AddToCounter(txn, absl::StrCat("confirmed/", Slot(call)), 1);
  };
  handlers.cancel_fn = [](const BranchCall& call, rocksdb::Transaction& txn,
                          std::string*) -> absl::Status {
    absl::Status s =
        FromRocksDbStatus(txn.SingleDelete(HoldKey(call)), "delete hold");
    if (!s.ok()) return s;
    return AddToCounter(txn, absl::StrCat("reserved/", Slot(call)), -1);
  };
  return handlers;
}

rocksdb::ColumnFamilyOptions ReservationColumnFamilyOptions() {
  rocksdb::ColumnFamilyOptions options;
  // The whole key is the hash prefix. A counter's versions pile up in its
  // bucket, which becomes a small skip list past 256 entries.
  options.prefix_extractor.reset(rocksdb::NewNoopTransform());
  // A flush sorts each hashed memtable into a skip list (~2 s of CPU for
  // 64 MiB), which costs less in cache: 4 MiB memtables, sixteen merged into
  // one level-0 file per flush (participants -2.5 to -5.3 % against 16 MiB,
  // four per flush; docs/BENCHMARKS.md). The data is short-lived (holds
  // vanish with their SingleDelete, counters are rewritten), so more of it
  // vanishes when more memtables are merged. 16,384 buckets: a 4 MiB
  // memtable holds ~13,000 keys, and its bucket array is allocated in it.
  options.write_buffer_size = 4 << 20;
  options.min_write_buffer_number_to_merge = 16;
  options.max_write_buffer_number = 20;
  options.memtable_factory.reset(rocksdb::NewHashLinkListRepFactory(
      /*bucket_count=*/16384, /*huge_page_tlb_size=*/0,
      /*bucket_entries_logging_threshold=*/1 << 30,
      /*if_log_bucket_dist_when_flash=*/false,
      /*threshold_use_skiplist=*/256));
  return options;
}

}  // namespace tcc::bench
