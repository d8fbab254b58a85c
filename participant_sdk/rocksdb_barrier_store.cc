#include "tcc/participant/rocksdb_barrier_store.h"

#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "barrier_codec.h"
#include "barrier_rules.h"
#include "rocksdb/compaction_filter.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/memtablerep.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "tcc/participant/rocksdb_status.h"
#include "wal_syncer.h"

namespace tcc::participant {
namespace {

constexpr char kBarrierColumnFamily[] = "tcc_barrier";

int64_t ToMillis(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

// Runs `body`, turning an escaping exception into INTERNAL: a handler's bug
// must roll back its transaction, not take the server down.
absl::Status RunBody(RocksDbBarrierStore::Body body, rocksdb::Transaction& txn,
                     std::string* reply) {
  try {
    return body(txn, reply);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("handler threw: ", e.what()));
  } catch (...) {
    return absl::InternalError("handler threw a non-standard exception");
  }
}

// Reads `key` under an exclusive lock. Sets *found; fills *value (may be
// null) if found.
absl::Status LockAndRead(rocksdb::Transaction& txn,
                         rocksdb::ColumnFamilyHandle* cf,
                         const std::string& key, bool* found,
                         std::string* value, const std::string& what) {
  // A null value would only lock, without telling whether the key exists.
  std::string scratch;
  rocksdb::Status s = txn.GetForUpdate(rocksdb::ReadOptions(), cf, key,
                                       value != nullptr ? value : &scratch);
  if (s.IsNotFound()) {
    *found = false;
    return absl::OkStatus();
  }
  *found = s.ok();
  return FromRocksDbStatus(s, what);
}

// The barrier column family's prefix extractor: a branch record is its own
// prefix; any other key's prefix is its first byte. The memtable hashes on
// it (see Open). (A format 1 record's prefix is its key without the phase
// byte, as the SDK that wrote it had it, so that its table files' filters
// still apply.)
class BarrierKeyPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "tcc.participant.BarrierKey"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    if (key.empty()) return key;
    switch (key[0]) {
      case internal::kBranchPrefix:
        return key;
      case internal::kLegacyRecordPrefix:
        return rocksdb::Slice(key.data(), key.size() - 1);
      default:
        return rocksdb::Slice(key.data(), 1);
    }
  }
  bool InDomain(const rocksdb::Slice&) const override { return true; }
};

// Drops, from the table files a compaction writes, every branch record last
// written before `cutoff`, and every index key formats 1 and 2 wrote (format
// 3 has none; a format 1 migration deletes its own, so it does not care when
// this drops them). RocksDB turns a dropped key into a tombstone until the
// last level, so an older version of the record below cannot reappear.
// Everything else (the format key, a record it cannot parse, a format 1
// record not migrated yet) is kept.
class ExpiredBarrierFilter final : public rocksdb::CompactionFilter {
 public:
  explicit ExpiredBarrierFilter(absl::Time cutoff) : cutoff_(cutoff) {}

  const char* Name() const override { return "tcc.participant.ExpiredBarrier"; }

  bool Filter(int /*level*/, const rocksdb::Slice& key,
              const rocksdb::Slice& value, std::string* /*new_value*/,
              bool* /*value_changed*/) const override {
    if (key.empty()) return false;
    if (key[0] == internal::kIndexPrefix) return true;
    if (key[0] != internal::kBranchPrefix) return false;
    absl::Time written;
    return internal::ParseBranchValue({value.data(), value.size()}, nullptr,
                                      &written, nullptr) &&
           written < cutoff_;
  }

 private:
  const absl::Time cutoff_;
};

// One filter per compaction, its cutoff the store's clock at the start of
// the compaction minus the retention. Compactions only: a flush keeps
// everything (RocksDB's default), so a record expires once it has reached a
// table file and a compaction rewrites that file.
class ExpiredBarrierFilterFactory final
    : public rocksdb::CompactionFilterFactory {
 public:
  ExpiredBarrierFilterFactory(Clock* clock, absl::Duration retention)
      : clock_(clock), retention_(retention) {}

  const char* Name() const override {
    return "tcc.participant.ExpiredBarrierFactory";
  }

  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context& /*context*/) override {
    const absl::Time cutoff = retention_ == absl::InfiniteDuration()
                                  ? absl::InfinitePast()
                                  : clock_->Now() - retention_;
    return std::make_unique<ExpiredBarrierFilter>(cutoff);
  }

 private:
  Clock* const clock_;
  const absl::Duration retention_;
};

// RocksDB's periodic compaction rewrites every barrier table file at least
// this often, so that an expired record leaves even from files no ordinary
// compaction reaches: the retention, at least an hour; none (0) for an
// infinite retention.
uint64_t PeriodicCompactionSeconds(absl::Duration retention) {
  if (retention == absl::InfiniteDuration()) return 0;
  return static_cast<uint64_t>(
      absl::ToInt64Seconds(std::max(retention, absl::Hours(1))));
}

// The barrier column family keeps its memtables small and flushes them
// together: a flush sorts each hashed memtable into a skip list, which for
// one 64 MiB memtable (~640,000 entries) cost 2.1 s of CPU, and for sixteen
// of 4 MiB, sorted in cache, 0.8 s for ~660,000. The flush merges the sixteen
// into one level-0 file, as the one 64 MiB memtable did, so compaction does
// not see more, smaller files (docs/BENCHMARKS.md).
constexpr size_t kBarrierMemtableBytes = size_t{4} << 20;
constexpr int kBarrierMemtablesPerFlush = 16;
// Buckets of the barrier memtable's hash table: about the number of branches
// one 4 MiB memtable holds (~14,000; its array of pointers, 128 KiB, is
// allocated in the memtable).
constexpr size_t kBarrierMemtableBuckets = 16384;

// Branches a format 1 migration converts per synced write.
constexpr int kMigrationBatch = 1000;

// One format 1 branch, read record by record for the migration.
struct LegacyBranch {
  std::string branch_key;
  internal::BranchRecords records;
  std::string try_reply;
  absl::Time last = absl::InfinitePast();
  std::vector<std::pair<std::string, absl::Time>> old_keys;
};

// Adds the current form of `branch` to `batch`: its record, and deletes of
// its old records and their index keys.
rocksdb::Status AddMigrated(const LegacyBranch& branch,
                            rocksdb::ColumnFamilyHandle* cf,
                            rocksdb::WriteBatch* batch) {
  rocksdb::Status s = batch->Put(
      cf, branch.branch_key,
      internal::BranchValue(branch.records, branch.last, branch.try_reply));
  for (const auto& [key, written] : branch.old_keys) {
    if (s.ok()) s = batch->Delete(cf, key);
    if (s.ok()) s = batch->Delete(cf, internal::IndexKey(written, key));
  }
  return s;
}

// Brings the barrier column family to the current format: checks the format
// key; format 2 only gets the current key (see barrier_codec.h); with no
// key, converts every format 1 record, a batch of whole branches per synced
// write (a crash in between leaves branches either converted or not, and
// the next Open() goes on), then writes the key.
absl::Status MigrateToCurrentFormat(rocksdb::TransactionDB* db,
                                    rocksdb::ColumnFamilyHandle* cf) {
  std::string value;
  rocksdb::Status s =
      db->Get(rocksdb::ReadOptions(), cf, internal::kFormatKey, &value);
  if (s.ok()) {
    uint32_t format = 0;
    if (!internal::ParseFormatValue(value, &format)) {
      return absl::InternalError("barrier store: malformed format record");
    }
    if (format == internal::kFormat) return absl::OkStatus();
    if (format != internal::kFormatWithIndex) {
      return absl::FailedPreconditionError(absl::StrCat(
          "barrier store has format ", format, "; this SDK reads formats ",
          internal::kFormatWithIndex, " to ", internal::kFormat,
          " (written by a newer SDK?)"));
    }
  } else if (!s.IsNotFound()) {
    return FromRocksDbStatus(s, "read barrier format");
  }

  rocksdb::WriteOptions synced;
  synced.sync = true;
  if (s.ok()) {
    s = db->Put(synced, cf, internal::kFormatKey,
                internal::FormatValue(internal::kFormat));
    return FromRocksDbStatus(s, "write barrier format");
  }
  const std::string begin(1, internal::kLegacyRecordPrefix);
  const std::string end(1, internal::kLegacyRecordPrefix + 1);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper;
  read_options.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, cf));
  rocksdb::WriteBatch batch;
  int branches = 0;
  LegacyBranch branch;
  auto finish_branch = [&]() -> absl::Status {
    if (branch.branch_key.empty()) return absl::OkStatus();
    rocksdb::Status status = AddMigrated(branch, cf, &batch);
    branch = LegacyBranch();
    if (status.ok() && ++branches % kMigrationBatch == 0) {
      status = db->Write(synced, &batch);
      batch.Clear();
    }
    return FromRocksDbStatus(status, "migrate barrier records");
  };
  for (it->Seek(begin); it->Valid(); it->Next()) {
    std::string branch_key;
    Phase phase = Phase::kTry;
    absl::Time written;
    std::string reply;
    const std::string_view key(it->key().data(), it->key().size());
    if (!internal::ParseLegacyRecordKey(key, &branch_key, &phase) ||
        !internal::ParseLegacyRecordValue(
            std::string_view(it->value().data(), it->value().size()), &written,
            &reply)) {
      return absl::InternalError(
          "barrier store: malformed format 1 record, not migrated");
    }
    if (branch_key != branch.branch_key) {
      absl::Status status = finish_branch();
      if (!status.ok()) return status;
      branch.branch_key = std::move(branch_key);
    }
    switch (phase) {
      case Phase::kTry:
        branch.records.tried = true;
        branch.try_reply = std::move(reply);
        break;
      case Phase::kConfirm:
        branch.records.confirmed = true;
        break;
      case Phase::kCancel:
        branch.records.cancelled = true;
        break;
    }
    branch.last = std::max(branch.last, written);
    branch.old_keys.emplace_back(key, written);
  }
  absl::Status status = FromRocksDbStatus(it->status(), "scan barrier records");
  if (status.ok()) status = finish_branch();
  if (!status.ok()) return status;
  s = batch.Put(cf, internal::kFormatKey,
                internal::FormatValue(internal::kFormat));
  if (s.ok()) s = db->Write(synced, &batch);
  return FromRocksDbStatus(s, "write barrier format");
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> RocksDbBarrierStore::Open(
    RocksDbBarrierStoreOptions options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("barrier store path is empty");
  }
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  // Writers waiting for a group commit would otherwise spin (up to 100 us)
  // while the leader fsyncs; on a small machine they take the leader's CPU
  // (measured: participants' CPU per transaction -7 %, throughput +11 %).
  db_options.enable_write_thread_adaptive_yield = false;
  // The write group's leader inserts every member's batch into the
  // memtable itself: the barrier's hash memtable (below) needs that, and
  // with the few executor threads a participant runs, parallel inserts
  // save nothing.
  db_options.allow_concurrent_memtable_write = false;
  // A commit's WAL record stays in RocksDB's buffer until the sync thread
  // writes the whole group's (WalSyncer).
  db_options.manual_wal_flush = options.sync && options.buffer_wal_until_sync;
  if (options.env != nullptr) db_options.env = options.env;

  // An existing database must be opened with all its column families.
  std::vector<std::string> names;
  rocksdb::Status s =
      rocksdb::DB::ListColumnFamilies(db_options, options.path, &names);
  if (!s.ok()) names = {rocksdb::kDefaultColumnFamilyName};
  bool has_barrier_cf = false;
  for (const std::string& name : names) {
    has_barrier_cf |= name == kBarrierColumnFamily;
  }
  if (!has_barrier_cf) names.push_back(kBarrierColumnFamily);

  // Every barrier lookup is a point lookup of one branch's record, and the
  // only scan is a format 1 migration's. So the memtable hashes on the
  // branch (BarrierKeyPrefix): a lookup or insert walks the list of the
  // branch's few versions instead of searching a skip list of every record,
  // which cost the participants ~7 % of their CPU per transaction
  // (docs/BENCHMARKS.md). A format 1 migration's index keys share one
  // bucket, which RocksDB turns into a skip list past 256 entries.
  rocksdb::ColumnFamilyOptions barrier_cf_options;
  barrier_cf_options.prefix_extractor = std::make_shared<BarrierKeyPrefix>();
  barrier_cf_options.memtable_factory.reset(rocksdb::NewHashLinkListRepFactory(
      kBarrierMemtableBuckets, /*huge_page_tlb_size=*/0,
      /*bucket_entries_logging_threshold=*/4096,
      /*if_log_bucket_dist_when_flash=*/false,
      /*threshold_use_skiplist=*/256));
  // A Try looks up a record that does not exist yet: bloom filters, in the
  // memtable and in the table files, answer that without searching.
  barrier_cf_options.memtable_prefix_bloom_size_ratio = 0.05;
  barrier_cf_options.memtable_whole_key_filtering = true;
  barrier_cf_options.write_buffer_size = kBarrierMemtableBytes;
  barrier_cf_options.min_write_buffer_number_to_merge =
      kBarrierMemtablesPerFlush;
  // More to fill while the flush runs: RocksDB slows writes down once all
  // but one of these are full, and stops them when all are.
  barrier_cf_options.max_write_buffer_number = kBarrierMemtablesPerFlush + 4;
  // Records expire in compaction rather than by a purge, which had to index
  // every branch by time (one more key per branch, ~4 % of a busy
  // participant's CPU, docs/BENCHMARKS.md) and delete each record.
  Clock* const clock = options.clock != nullptr ? options.clock : Clock::Real();
  barrier_cf_options.compaction_filter_factory =
      std::make_shared<ExpiredBarrierFilterFactory>(clock, options.retention);
  barrier_cf_options.periodic_compaction_seconds =
      PeriodicCompactionSeconds(options.retention);
  rocksdb::BlockBasedTableOptions table_options;
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table_options.whole_key_filtering = true;
  barrier_cf_options.table_factory.reset(
      rocksdb::NewBlockBasedTableFactory(table_options));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) {
    if (name == kBarrierColumnFamily) {
      descriptors.emplace_back(name, barrier_cf_options);
    } else if (name == rocksdb::kDefaultColumnFamilyName) {
      descriptors.emplace_back(name, options.business_options);
    } else {
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
  }

  rocksdb::TransactionDBOptions txn_db_options;
  txn_db_options.transaction_lock_timeout = ToMillis(options.lock_timeout);
  txn_db_options.default_lock_timeout = ToMillis(options.lock_timeout);

  rocksdb::TransactionDB* raw_db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  s = rocksdb::TransactionDB::Open(db_options, txn_db_options, options.path,
                                   descriptors, &handles, &raw_db);
  if (!s.ok()) {
    std::string what = absl::StrCat("open barrier store ", options.path);
    if (s.IsInvalidArgument()) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": ", s.ToString()));
    }
    return FromRocksDbStatus(s, what);
  }
  std::unique_ptr<rocksdb::TransactionDB> db(raw_db);
  rocksdb::ColumnFamilyHandle* barrier_cf = nullptr;
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    if (handle->GetName() == kBarrierColumnFamily) barrier_cf = handle;
  }
  absl::Status migrated = MigrateToCurrentFormat(db.get(), barrier_cf);
  if (!migrated.ok()) {
    for (rocksdb::ColumnFamilyHandle* handle : handles) {
      db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
    return absl::Status(migrated.code(),
                        absl::StrCat("open barrier store ", options.path, ": ",
                                     migrated.message()));
  }
  return std::unique_ptr<RocksDbBarrierStore>(new RocksDbBarrierStore(
      std::move(options), std::move(db), std::move(handles), barrier_cf));
}

RocksDbBarrierStore::RocksDbBarrierStore(
    RocksDbBarrierStoreOptions options,
    std::unique_ptr<rocksdb::TransactionDB> db,
    std::vector<rocksdb::ColumnFamilyHandle*> handles,
    rocksdb::ColumnFamilyHandle* barrier_cf)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()),
      db_(std::move(db)),
      handles_(std::move(handles)),
      barrier_cf_(barrier_cf),
      syncer_(options_.sync
                  ? std::make_unique<internal::WalSyncer>(
                        db_.get(), clock_, options_.deferred_sync_delay)
                  : nullptr) {}

RocksDbBarrierStore::~RocksDbBarrierStore() {
  syncer_.reset();
  for (rocksdb::ColumnFamilyHandle* handle : handles_) {
    // Only fails for a null handle; nothing to do about it while closing.
    db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  handles_.clear();
  db_.reset();
}

void RocksDbBarrierStore::SyncPoint(std::string_view point) const {
  if (options_.sync_point) options_.sync_point(point);
}

std::unique_ptr<rocksdb::Transaction> RocksDbBarrierStore::BeginTransaction(
    bool sync) const {
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  rocksdb::TransactionOptions txn_options;
  txn_options.lock_timeout = ToMillis(options_.lock_timeout);
  txn_options.deadlock_detect = options_.deadlock_detect;
  return std::unique_ptr<rocksdb::Transaction>(
      db_->BeginTransaction(write_options, txn_options));
}

void RocksDbBarrierStore::AfterSync(
    absl::AnyInvocable<void(absl::Status) &&> done, bool caller_may_sync) {
  if (syncer_ == nullptr) {
    std::move(done)(absl::OkStatus());
    return;
  }
  syncer_->AfterSync(std::move(done), caller_may_sync);
}

void RocksDbBarrierStore::AfterSyncDeferred(
    absl::AnyInvocable<void(absl::Status) &&> done) {
  if (syncer_ == nullptr) {
    std::move(done)(absl::OkStatus());
    return;
  }
  syncer_->AfterSyncDeferred(std::move(done));
}

absl::StatusOr<BarrierResult> RocksDbBarrierStore::Run(const BranchCall& call,
                                                       Phase phase, Body body,
                                                       std::string* reply) {
  absl::StatusOr<BarrierResult> result = RunDeferred(call, phase, body, reply);
  absl::Notification synced;
  absl::Status sync_status;
  AfterSync([&](absl::Status status) {
    sync_status = std::move(status);
    synced.Notify();
  });
  synced.WaitForNotification();
  if (sync_status.ok()) return result;
  if (reply != nullptr) reply->clear();
  return sync_status;
}

absl::StatusOr<BarrierResult> RocksDbBarrierStore::RunDeferred(
    const BranchCall& call, Phase phase, Body body, std::string* reply) {
  if (reply != nullptr) reply->clear();
  if (call.gid.empty()) return absl::InvalidArgumentError("empty gid");
  if (call.branch_id.empty()) {
    return absl::InvalidArgumentError("empty branch_id");
  }

  const std::string branch_key = internal::BranchKey(call.gid, call.branch_id);
  const std::string what = absl::StrCat(PhaseName(phase), " barrier of ",
                                        call.gid, "/", call.branch_id);

  // Never synced here: AfterSync() does it for every caller at once.
  std::unique_ptr<rocksdb::Transaction> txn = BeginTransaction(false);
  // Every early return below discards the transaction, releasing its lock
  // and dropping its writes; an explicit Rollback() would add nothing.

  // The branch's one record, locked: concurrent phases of one branch run
  // one after the other.
  SyncPoint(kSyncPointBeforeLock);
  bool found = false;
  std::string value;
  absl::Status status =
      LockAndRead(*txn, barrier_cf_, branch_key, &found, &value, what);
  if (!status.ok()) return status;
  internal::BranchRecords records;
  std::string try_reply;
  if (found &&
      !internal::ParseBranchValue(value, &records, nullptr, &try_reply)) {
    return absl::InternalError(absl::StrCat(what, ": malformed record"));
  }
  SyncPoint(kSyncPointLocked);

  absl::StatusOr<internal::BarrierStep> step = internal::NextStep(
      phase, records, absl::StrCat(call.gid, "/", call.branch_id));
  if (!step.ok()) return step.status();
  if (*step == internal::BarrierStep::kDuplicate && phase == Phase::kTry &&
      reply != nullptr) {
    *reply = std::move(try_reply);
  }
  if (*step == internal::BarrierStep::kDuplicate ||
      *step == internal::BarrierStep::kRefuseTry) {
    return internal::ResultOf(*step);
  }

  std::string body_reply;
  if (*step == internal::BarrierStep::kRunHandler) {
    status = RunBody(body, *txn, &body_reply);
    if (!status.ok()) return status;
  }

  // The record keeps the Try's reply so that a duplicate Try answers the
  // same, and its last write time for the compaction filter.
  switch (phase) {
    case Phase::kTry:
      records.tried = true;
      try_reply = body_reply;
      break;
    case Phase::kConfirm:
      records.confirmed = true;
      break;
    case Phase::kCancel:
      records.cancelled = true;
      break;
  }
  const absl::Time now = clock_->Now();
  rocksdb::Status s = txn->Put(barrier_cf_, branch_key,
                               internal::BranchValue(records, now, try_reply));
  if (s.ok()) {
    s = txn->Commit();
    // The WAL may hold part of a failed append: never SyncWAL() after it.
    if (s.IsIOError() && syncer_ != nullptr) {
      syncer_->MarkWriteFailed(FromRocksDbStatus(s, what));
    }
  }
  status = FromRocksDbStatus(s, what);
  if (!status.ok()) return status;
  SyncPoint(kSyncPointCommitted);

  if (reply != nullptr) *reply = std::move(body_reply);
  return internal::ResultOf(*step);
}

absl::Status RocksDbBarrierStore::ExpireNow() {
  rocksdb::CompactRangeOptions compact;
  // The last level too: a record dropped above it would otherwise leave a
  // tombstone over its older versions there.
  compact.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  return FromRocksDbStatus(
      db_->CompactRange(compact, barrier_cf_, nullptr, nullptr),
      "compact barrier records");
}

absl::StatusOr<std::vector<Phase>> RocksDbBarrierStore::RecordedPhases(
    std::string_view gid, std::string_view branch_id) const {
  std::vector<Phase> phases;
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), barrier_cf_,
                               internal::BranchKey(gid, branch_id), &value);
  if (s.IsNotFound()) return phases;
  absl::Status status = FromRocksDbStatus(s, "read barrier record");
  if (!status.ok()) return status;
  internal::BranchRecords records;
  if (!internal::ParseBranchValue(value, &records, nullptr, nullptr)) {
    return absl::InternalError("read barrier record: malformed record");
  }
  if (records.tried) phases.push_back(Phase::kTry);
  if (records.confirmed) phases.push_back(Phase::kConfirm);
  if (records.cancelled) phases.push_back(Phase::kCancel);
  return phases;
}

}  // namespace tcc::participant
