#include "shop_state.h"

#include <time.h>

#include <cstdio>
#include <memory>

#include "absl/strings/str_format.h"
#include "tcc/common/logging.h"

namespace tcc::examples::order {

absl::StatusOr<bool> LoadForUpdate(rocksdb::Transaction& txn,
                                   const std::string& key,
                                   google::protobuf::Message* out) {
  std::string value;
  rocksdb::Status s = txn.GetForUpdate(rocksdb::ReadOptions(), key, &value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("read ", key, ": ", s.ToString()));
  }
  if (!out->ParseFromString(value)) {
    return absl::DataLossError(absl::StrCat("corrupt value at ", key));
  }
  return true;
}

absl::Status Save(rocksdb::Transaction& txn, const std::string& key,
                  const google::protobuf::Message& value) {
  rocksdb::Status s = txn.Put(key, value.SerializeAsString());
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("write ", key, ": ", s.ToString()));
  }
  return absl::OkStatus();
}

absl::Status Journal(rocksdb::Transaction& txn, const std::string& service,
                     const char* phase, const BranchCall& call,
                     const std::string& note) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  JournalEntry e;
  e.set_monotonic_ns(static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec);
  e.set_service(service);
  e.set_phase(phase);
  e.set_gid(call.gid);
  e.set_branch_id(call.branch_id);
  e.set_action(call.action);
  e.set_note(note);
  LogInfo(service, ": ", phase, " ", call.action, " gid=", call.gid,
          " branch=", call.branch_id, ": ", note);
  return Save(txn,
              absl::StrFormat("journal/%020d/%s/%s/%s", e.monotonic_ns(),
                              call.gid, call.branch_id, phase),
              e);
}

absl::Status SeedIfAbsent(rocksdb::TransactionDB* db, const std::string& key,
                          const google::protobuf::Message& value) {
  std::string existing;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), key, &existing);
  if (s.ok()) return absl::OkStatus();
  if (!s.IsNotFound()) return absl::UnavailableError(s.ToString());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = db->Put(wo, key, value.SerializeAsString());
  if (!s.ok()) return absl::UnavailableError(s.ToString());
  return absl::OkStatus();
}

absl::StatusOr<InspectResponse> Inspect(rocksdb::TransactionDB* db) {
  InspectResponse out;
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    const std::string value = it->value().ToString();
    bool ok = true;
    if (key.rfind("stock/", 0) == 0) {
      ok = out.add_stock()->ParseFromString(value);
    } else if (key.rfind("order/", 0) == 0) {
      ok = out.add_orders()->ParseFromString(value);
    } else if (key.rfind("wallet/", 0) == 0) {
      ok = out.add_wallets()->ParseFromString(value);
    } else if (key.rfind("journal/", 0) == 0) {
      ok = out.add_journal()->ParseFromString(value);
    }
    if (!ok) return absl::DataLossError("corrupt value at " + key);
  }
  if (!it->status().ok())
    return absl::UnavailableError(it->status().ToString());
  return out;
}

}  // namespace tcc::examples::order
