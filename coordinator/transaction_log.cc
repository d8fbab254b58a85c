#include "coordinator/transaction_log.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "tcc/common/thread_name.h"
#include "tcc/v1/coordinator.pb.h"

namespace tcc::coordinator {
namespace {

constexpr char kTxnPrefix[] = "t/";
constexpr char kActivePrefix[] = "i/";
constexpr char kFinishedPrefix[] = "f/";
// The active index of logs written before it was ordered by creation time:
// "a/<gid>". Converted by Open().
constexpr char kGidOrderedActivePrefix[] = "a/";
// Hex digits of the creation time in an active-index key.
constexpr size_t kActiveTimeDigits = 16;

// "i/<create ms, 16 hex digits>/<gid>": creation order, so that a new
// transaction's key lands at the end of the index (one insert hint for all,
// see InsertHintPrefix) and recovery resumes the oldest first. Text, so that
// the suffix can serve as a page token.
std::string ActiveKey(int64_t create_ms, const std::string& gid) {
  const uint64_t ms = create_ms < 0 ? 0 : static_cast<uint64_t>(create_ms);
  std::string key(kActivePrefix);
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = 4 * (kActiveTimeDigits - 1); shift >= 0; shift -= 4) {
    key.push_back(kHex[(ms >> shift) & 0xf]);
  }
  key.push_back('/');
  key.append(gid);
  return key;
}

// The gid of an active-index key (or of its suffix after kActivePrefix);
// empty if malformed.
std::string_view GidOfActiveSuffix(std::string_view suffix) {
  if (suffix.size() <= kActiveTimeDigits + 1 ||
      suffix[kActiveTimeDigits] != '/') {
    return {};
  }
  return suffix.substr(kActiveTimeDigits + 1);
}

std::string EncodeBigEndian64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

uint64_t DecodeBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string FinishedKey(int64_t finish_ms, const std::string& gid) {
  return absl::StrCat(kFinishedPrefix,
                      EncodeBigEndian64(static_cast<uint64_t>(finish_ms)), gid);
}

// Where the memtable remembers its last insert, so that the next insert
// with the same prefix starts from there instead of from the skip list's
// head (RocksDB's insert hints). A transaction's record is rewritten two or
// three times, each next to the previous version: one hint per key. Active-
// and finished-index keys arrive in time order (an active key's delete a
// transaction's lifetime behind the newest): one hint for each index. Each
// hint costs the memtable ~250 bytes until it is flushed.
class InsertHintPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "tcc.coordinator.InsertHint"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    if (key.starts_with(kFinishedPrefix)) {
      return rocksdb::Slice(key.data(), sizeof(kFinishedPrefix) - 1);
    }
    if (key.starts_with(kActivePrefix)) {
      return rocksdb::Slice(key.data(), sizeof(kActivePrefix) - 1);
    }
    return key;
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return !key.empty();
  }
};

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound())
    return absl::NotFoundError(absl::StrCat(what, ": not found"));
  return absl::UnavailableError(absl::StrCat(what, ": ", s.ToString()));
}

// Converts the gid-ordered active index of an older log ("a/<gid>") to the
// creation-ordered one, in synced batches: each transaction moves from one
// index to the other in one write, so a crash in between leaves it in one of
// them, and the next Open() goes on.
absl::Status ConvertGidOrderedActiveIndex(rocksdb::DB* db) {
  constexpr int kBatch = 1000;
  rocksdb::WriteOptions synced;
  synced.sync = true;
  rocksdb::WriteBatch batch;
  int converted = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(kGidOrderedActivePrefix);
       it->Valid() && it->key().starts_with(kGidOrderedActivePrefix);
       it->Next()) {
    const std::string gid =
        it->key().ToString().substr(strlen(kGidOrderedActivePrefix));
    std::string value;
    rocksdb::Status s =
        db->Get(rocksdb::ReadOptions(), TransactionKey(gid), &value);
    if (s.ok()) {
      internal::StoredTransaction record;
      if (!record.ParseFromString(value)) {
        return absl::DataLossError(absl::StrCat("corrupt record for ", gid));
      }
      s = batch.Put(ActiveKey(record.txn().create_unix_ms(), gid), "");
    } else if (s.IsNotFound()) {
      // An index key without its record, which every scan skipped: dropped.
      s = rocksdb::Status::OK();
    }
    if (s.ok()) s = batch.Delete(it->key());
    if (s.ok() && ++converted % kBatch == 0) {
      s = db->Write(synced, &batch);
      batch.Clear();
    }
    if (!s.ok()) return FromRocks(s, "convert the active index");
  }
  if (!it->status().ok()) {
    return FromRocks(it->status(), "convert the active index");
  }
  if (batch.Count() == 0) return absl::OkStatus();
  return FromRocks(db->Write(synced, &batch), "convert the active index");
}

}  // namespace

std::string TransactionKey(const std::string& gid) {
  return absl::StrCat(kTxnPrefix, gid);
}

bool IsFinalState(int state) {
  return state == v1::CONFIRMED || state == v1::CANCELLED ||
         state == v1::SUCCEEDED || state == v1::COMPENSATED;
}

absl::StatusOr<std::unique_ptr<TransactionLog>> TransactionLog::Open(
    TransactionLogOptions options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("transaction log path is empty");
  }
  if (options.callback_executor == nullptr) {
    return absl::InvalidArgumentError("transaction log needs an executor");
  }
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.IncreaseParallelism(2);
  db_options.max_background_jobs = 2;
  // Every acknowledged write is synced; the WAL is the durability boundary.
  db_options.manual_wal_flush = false;
  if (options.env != nullptr) db_options.env = options.env;
  // Only the writer thread writes, so memtable inserts are never concurrent
  // and can use hints.
  db_options.memtable_insert_with_hint_prefix_extractor =
      std::make_shared<InsertHintPrefix>();
  // Creating a transaction first looks its gid up (it must not exist yet):
  // bloom filters in the memtable and in the table files answer that miss
  // without searching.
  db_options.memtable_prefix_bloom_size_ratio = 0.02;
  db_options.memtable_whole_key_filtering = true;
  // Small memtables, flushed eight at a time: a new transaction's record
  // searches the skip list of the current memtable only, 8 MiB instead of
  // 64, and the flush merges the eight into one level-0 file, as the one
  // 64 MiB memtable did, so compaction sees the same files as before. A lookup
  // checks each memtable's bloom filter first. (With the barrier store's change
  // of the same kind: tccd ÷ client CPU -0.2 to -4.6 %, docs/BENCHMARKS.md.)
  db_options.write_buffer_size = size_t{8} << 20;
  db_options.min_write_buffer_number_to_merge = 8;
  // Four to fill while the flush runs (RocksDB slows writes down once all
  // but one of these are full).
  db_options.max_write_buffer_number = 12;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.whole_key_filtering = true;
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, &raw);
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot open transaction log at ", options.path, ": ", s.ToString()));
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  absl::Status converted = ConvertGidOrderedActiveIndex(db.get());
  if (!converted.ok()) {
    return absl::Status(converted.code(),
                        absl::StrCat("transaction log at ", options.path, ": ",
                                     converted.message()));
  }
  return std::unique_ptr<TransactionLog>(
      new TransactionLog(std::move(options), std::move(db)));
}

TransactionLog::TransactionLog(TransactionLogOptions options,
                               std::unique_ptr<rocksdb::DB> db)
    : options_(std::move(options)), db_(std::move(db)) {
  writer_ = std::thread([this] {
    NameCurrentThread("tccd-log");
    WriterLoop();
  });
}

TransactionLog::~TransactionLog() { Close(); }

LogWrite LogWrite::Of(internal::StoredTransaction* record,
                      uint64_t expected_version, bool sync) {
  const uint64_t version = record->version();
  record->set_version(expected_version + 1);
  const v1::Transaction& txn = record->txn();
  LogWrite write;
  write.gid = txn.gid();
  write.value = record->SerializeAsString();
  record->set_version(version);
  write.final_state = IsFinalState(txn.state());
  write.create_unix_ms = txn.create_unix_ms();
  write.finish_unix_ms = txn.finish_unix_ms();
  write.expected_version = expected_version;
  write.sync = sync;
  return write;
}

void TransactionLog::Write(LogWrite write, LogWriteCallback done) {
  {
    absl::MutexLock lock(&mu_);
    if (!closing_) {
      queue_.push_back(Pending{std::move(write), std::move(done)});
      return;
    }
  }
  options_.callback_executor->Schedule([done = std::move(done)]() mutable {
    std::move(done)(absl::UnavailableError("transaction log is closed"),
                    nullptr);
  });
}

absl::Status TransactionLog::WriteAndWait(LogWrite write) {
  absl::Mutex mu;
  bool finished = false;
  absl::Status result;
  Write(std::move(write),
        [&](absl::Status s, const internal::StoredTransaction*) {
          absl::MutexLock lock(&mu);
          result = std::move(s);
          finished = true;
        });
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&finished));
  return result;
}

void TransactionLog::WriterLoop() {
  for (;;) {
    std::vector<Pending> group;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](TransactionLog* log) ABSL_SHARED_LOCKS_REQUIRED(log->mu_) {
            return log->closing_ || !log->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // closing and drained
      size_t n = std::min<size_t>(queue_.size(), options_.max_group_size);
      group.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitGroup(&group);
  }
}

absl::StatusOr<uint64_t> TransactionLog::StoredVersion(
    const std::string& gid, internal::StoredTransaction* out, bool* found) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), TransactionKey(gid), &value);
  if (s.IsNotFound()) {
    *found = false;
    return 0;
  }
  if (!s.ok()) return FromRocks(s, absl::StrCat("read ", gid));
  if (!out->ParseFromString(value)) {
    return absl::DataLossError(absl::StrCat("corrupt record for ", gid));
  }
  *found = true;
  return out->version();
}

void TransactionLog::CommitGroup(std::vector<Pending>* group) {
  // Versions as they will be once this batch lands, so several writes to one
  // gid inside a group are checked against each other. Keys and values point
  // into `group`, which stays in place until the callbacks have run.
  struct Staged {
    uint64_t version;
    const std::string* value;
  };
  std::unordered_map<std::string_view, Staged> staged;
  rocksdb::WriteBatch batch;
  bool sync = false;
  std::vector<absl::Status> results(group->size());
  // The stored record each refused write's callback sees: read from the
  // store, or parsed from the write staged before it in this group.
  std::vector<internal::StoredTransaction> read(group->size());
  // Points into `read`, whose elements stay in place when it is moved below;
  // null for a write that lands (its writer has the record).
  std::vector<const internal::StoredTransaction*> current(group->size(),
                                                          nullptr);
  // Version-cache updates, applied only if the batch lands.
  std::vector<std::pair<const std::string*, uint64_t>> cache_updates;

  for (size_t i = 0; i < group->size(); ++i) {
    const LogWrite& w = (*group)[i].write;
    const std::string& gid = w.gid;
    uint64_t stored = 0;
    bool found = false;
    const std::string* staged_value = nullptr;
    auto it = staged.find(gid);
    auto known = known_versions_.find(gid);
    if (it != staged.end()) {
      stored = it->second.version;
      found = true;
      staged_value = it->second.value;
    } else if (w.expected_version != 0 && known != known_versions_.end() &&
               known->second == w.expected_version) {
      // This log wrote that version last; no need to read it back.
      stored = known->second;
      found = true;
    } else {
      absl::StatusOr<uint64_t> v = StoredVersion(gid, &read[i], &found);
      if (!v.ok()) {
        results[i] = v.status();
        continue;
      }
      stored = *v;
      if (found) current[i] = &read[i];
    }
    const bool exists = w.expected_version == 0 && found;
    if (exists ||
        (w.expected_version != 0 && (!found || stored != w.expected_version))) {
      if (staged_value != nullptr) {
        // Refused because of a write earlier in this group: that is the
        // record the caller finds stored.
        if (read[i].ParseFromString(*staged_value)) current[i] = &read[i];
      }
      results[i] = exists ? absl::AlreadyExistsError(absl::StrCat(
                                "transaction ", gid, " already exists"))
                          : absl::FailedPreconditionError(absl::StrCat(
                                "transaction ", gid, " is at version ", stored,
                                ", writer expected ", w.expected_version));
      continue;
    }
    const uint64_t version = w.expected_version + 1;
    batch.Put(TransactionKey(gid), w.value);
    // The active-index key rests on create_unix_ms, which never changes.
    if (w.final_state) {
      batch.Delete(ActiveKey(w.create_unix_ms, gid));
      batch.Put(FinishedKey(w.finish_unix_ms, gid), "");
      cache_updates.emplace_back(&gid, 0);
    } else {
      if (w.expected_version == 0) {
        batch.Put(ActiveKey(w.create_unix_ms, gid), "");
      }
      cache_updates.emplace_back(&gid, version);
    }
    sync = sync || w.sync;
    staged[gid] = Staged{version, &w.value};
  }

  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  rocksdb::Status s = batch.Count() > 0 ? db_->Write(write_options, &batch)
                                        : rocksdb::Status::OK();
  absl::Status batch_status = FromRocks(s, "transaction log write");
  for (const auto& [gid, version] : cache_updates) {
    // A failed write's outcome is unknown: forget, and read next time.
    if (version == 0 || !s.ok()) {
      known_versions_.erase(*gid);
    } else {
      known_versions_[*gid] = version;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    ++groups_;
    if (!s.ok()) write_failed_ = true;
  }

  // One task runs the whole group's callbacks: they are short and never
  // block, and one hand-off per group keeps the executor queue small.
  struct Completion {
    std::vector<Pending> group;
    std::vector<absl::Status> results;
    std::vector<internal::StoredTransaction> read;
    std::vector<const internal::StoredTransaction*> current;
  };
  auto completion = std::make_shared<Completion>();
  completion->group = std::move(*group);
  completion->results = std::move(results);
  completion->read = std::move(read);
  completion->current = std::move(current);
  if (!batch_status.ok()) {
    for (auto& r : completion->results) {
      if (r.ok()) r = batch_status;
    }
  }
  auto run = [completion]() mutable {
    for (size_t i = 0; i < completion->group.size(); ++i) {
      const absl::Status& r = completion->results[i];
      const internal::StoredTransaction* cur =
          r.code() == absl::StatusCode::kAlreadyExists ||
                  r.code() == absl::StatusCode::kFailedPrecondition
              ? completion->current[i]
              : nullptr;
      std::move(completion->group[i].done)(r, cur);
    }
  };
  // With nothing else queued, the writer thread would only go to sleep:
  // it runs the callbacks itself, which saves a light load one thread
  // wake-up per write. Under load the next group must not wait for them.
  bool idle;
  {
    absl::MutexLock lock(&mu_);
    idle = queue_.empty();
  }
  if (idle) {
    run();
  } else {
    options_.callback_executor->Schedule(std::move(run));
  }
}

absl::StatusOr<internal::StoredTransaction> TransactionLog::Get(
    const std::string& gid) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), TransactionKey(gid), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("unknown transaction ", gid));
  }
  if (!s.ok()) return FromRocks(s, absl::StrCat("read ", gid));
  internal::StoredTransaction record;
  if (!record.ParseFromString(value)) {
    return absl::DataLossError(absl::StrCat("corrupt record for ", gid));
  }
  return record;
}

absl::Status TransactionLog::ScanActive(
    const std::string& after, int limit,
    std::vector<internal::StoredTransaction>* out, std::string* next_after) {
  next_after->clear();
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  const std::string start = absl::StrCat(kActivePrefix, after);
  it->Seek(start);
  if (!after.empty() && it->Valid() && it->key() == start) it->Next();
  int n = 0;
  for (; it->Valid() && it->key().starts_with(kActivePrefix) && n < limit;
       it->Next()) {
    const std::string suffix =
        it->key().ToString().substr(strlen(kActivePrefix));
    absl::StatusOr<internal::StoredTransaction> rec =
        Get(std::string(GidOfActiveSuffix(suffix)));
    if (rec.ok()) {
      out->push_back(*std::move(rec));
    } else if (rec.status().code() != absl::StatusCode::kNotFound) {
      return rec.status();
    }
    *next_after = suffix;
    ++n;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan active");
  if (n < limit) next_after->clear();
  return absl::OkStatus();
}

absl::StatusOr<ListPage> TransactionLog::List(const std::vector<int>& states,
                                              absl::Time created_before,
                                              int page_size,
                                              const std::string& page_token,
                                              int max_scan) {
  bool only_active = !states.empty();
  for (int st : states) only_active = only_active && !IsFinalState(st);
  const char* prefix = only_active ? kActivePrefix : kTxnPrefix;
  const size_t prefix_len = strlen(prefix);
  int64_t created_before_ms = absl::ToUnixMillis(created_before);

  ListPage page;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  std::string start = absl::StrCat(prefix, page_token);
  it->Seek(start);
  if (!page_token.empty() && it->Valid() && it->key() == start) it->Next();
  int scanned = 0;
  std::string last;
  for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (scanned >= max_scan ||
        static_cast<int>(page.transactions.size()) >= page_size) {
      page.next_page_token = last;
      break;
    }
    ++scanned;
    last = it->key().ToString().substr(prefix_len);
    internal::StoredTransaction record;
    if (only_active) {
      absl::StatusOr<internal::StoredTransaction> rec =
          Get(std::string(GidOfActiveSuffix(last)));
      if (!rec.ok()) {
        if (rec.status().code() == absl::StatusCode::kNotFound) continue;
        return rec.status();
      }
      record = *std::move(rec);
    } else if (!record.ParseFromArray(it->value().data(),
                                      static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat("corrupt record for ", last));
    }
    const v1::Transaction& txn = record.txn();
    if (!states.empty() &&
        std::find(states.begin(), states.end(), txn.state()) == states.end()) {
      continue;
    }
    if (txn.create_unix_ms() > created_before_ms) continue;
    page.transactions.push_back(std::move(record));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "list");
  return page;
}

absl::StatusOr<int> TransactionLog::PurgeFinishedBefore(absl::Time cutoff,
                                                        int max_records) {
  const size_t prefix_len = strlen(kFinishedPrefix);
  uint64_t cutoff_ms = static_cast<uint64_t>(absl::ToUnixMillis(cutoff));
  rocksdb::WriteBatch batch;
  int n = 0;
  std::string first_key, last_key;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(kFinishedPrefix);
         it->Valid() && it->key().starts_with(kFinishedPrefix) &&
         n < max_records;
         it->Next()) {
      rocksdb::Slice key = it->key();
      if (key.size() < prefix_len + 8) continue;
      uint64_t finish_ms = DecodeBigEndian64(key.data() + prefix_len);
      if (finish_ms >= cutoff_ms) break;
      std::string gid(key.data() + prefix_len + 8, key.size() - prefix_len - 8);
      batch.Delete(TransactionKey(gid));
      batch.Delete(key);
      ++n;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "purge scan");
  }
  if (n == 0) return 0;
  // Not synced: a purge lost to a crash is simply redone.
  rocksdb::Status s = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!s.ok()) {
    absl::MutexLock lock(&mu_);
    write_failed_ = true;
    return FromRocks(s, "purge");
  }
  return n;
}

absl::StatusOr<int64_t> TransactionLog::CountActive() {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  int64_t n = 0;
  for (it->Seek(kActivePrefix);
       it->Valid() && it->key().starts_with(kActivePrefix); it->Next()) {
    ++n;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "count");
  return n;
}

uint64_t TransactionLog::groups_committed() const {
  absl::MutexLock lock(&mu_);
  return groups_;
}

void TransactionLog::Close() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closing_ = true;
  }
  if (writer_.joinable()) writer_.join();
  bool write_failed;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    write_failed = write_failed_;
  }
  rocksdb::Status s;
  if (!write_failed) {
    s = db_->SyncWAL();
    (void)s;  // Best effort: every acknowledged write was already synced.
  }
  s = db_->Close();
  (void)s;  // Nothing more to do on a failed close at shutdown.
}

}  // namespace tcc::coordinator
