#ifndef TCC_TESTS_UNIT_RAW_BARRIER_FAMILY_H_
#define TCC_TESTS_UNIT_RAW_BARRIER_FAMILY_H_

// The RocksDB barrier store's column family opened without the store, for
// tests of its on-disk layout: writing the records SDK 0.1.0 wrote before
// format 2 and those format 2 wrote (participant_sdk/barrier_codec.h), built
// here independently of the SDK's code so that the tests pin the old
// layouts, and counting keys.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"

namespace tcc::testing {

inline std::string BigEndian(uint64_t v, int bytes) {
  std::string out;
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
  return out;
}

class RawBarrierFamily {
 public:
  explicit RawBarrierFamily(const std::string& path) {
    rocksdb::DBOptions options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, {}}, {"tcc_barrier", {}}};
    rocksdb::DB* db = nullptr;
    rocksdb::Status s =
        rocksdb::DB::Open(options, path, families, &handles_, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
  }
  ~RawBarrierFamily() {
    if (db_ == nullptr) return;
    for (rocksdb::ColumnFamilyHandle* handle : handles_) {
      EXPECT_TRUE(db_->DestroyColumnFamilyHandle(handle).ok());
    }
  }

  // One format 1 record and its index key, written at `unix_seconds`.
  void Record(std::string_view gid, std::string_view branch_id, char phase,
              int64_t unix_seconds, std::string_view reply = "") {
    std::string key = "r";
    key += BigEndian(gid.size(), 4);
    key += gid;
    key += BigEndian(branch_id.size(), 4);
    key += branch_id;
    key += phase;
    const std::string micros = BigEndian(unix_seconds * 1000000, 8);
    ASSERT_TRUE(
        db_->Put({}, handles_[1], key, micros + std::string(reply)).ok());
    ASSERT_TRUE(db_->Put({}, handles_[1], "w" + micros + key, "").ok());
  }

  // One format 2 branch record (phase bits: 1 try, 2 confirm, 4 cancel) and
  // its index key, last written at `unix_seconds`.
  void Branch(std::string_view gid, std::string_view branch_id, int bits,
              int64_t unix_seconds, std::string_view reply = "") {
    std::string key = "b";
    key += BigEndian(gid.size(), 4);
    key += gid;
    key += BigEndian(branch_id.size(), 4);
    key += branch_id;
    const std::string micros = BigEndian(unix_seconds * 1000000, 8);
    ASSERT_TRUE(db_->Put({}, handles_[1], key,
                         static_cast<char>(bits) + micros + std::string(reply))
                    .ok());
    ASSERT_TRUE(db_->Put({}, handles_[1], "w" + micros + key, "").ok());
  }

  void Put(std::string_view key, std::string_view value) {
    ASSERT_TRUE(db_->Put({}, handles_[1], key, value).ok());
  }

  // The value of `key`; empty if there is none.
  std::string Get(std::string_view key) {
    std::string value;
    rocksdb::Status s = db_->Get({}, handles_[1], key, &value);
    EXPECT_TRUE(s.ok() || s.IsNotFound()) << s.ToString();
    return value;
  }

  // How many keys start with `first_byte`.
  int Count(char first_byte) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, handles_[1]));
    int count = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      count += it->key()[0] == first_byte ? 1 : 0;
    }
    EXPECT_TRUE(it->status().ok());
    return count;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace tcc::testing

#endif  // TCC_TESTS_UNIT_RAW_BARRIER_FAMILY_H_
