#include "support/power_loss_fs.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tcc::testing {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

IOStatus PowerLost() { return IOStatus::IOError("power lost"); }

absl::Status FromRocks(const IOStatus& s, absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", s.ToString()));
}

}  // namespace

// One file written in this session. Guarded by files_mu_.
struct PowerLossFileSystem::FileState {
  // Created (or truncated to empty on open) in this session, as opposed to
  // an existing file reopened for writing.
  bool created = false;
  // A Sync or Fsync succeeded at least once.
  bool synced = false;
  // Bytes written so far.
  uint64_t size = 0;
  // The prefix that survives a power cut.
  uint64_t durable_size = 0;
};

class PowerLossFileSystem::TrackedWritableFile
    : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedWritableFile(PowerLossFileSystem* fs,
                      std::unique_ptr<rocksdb::FSWritableFile> file,
                      std::shared_ptr<FileState> state)
      : FSWritableFileOwnerWrapper(std::move(file)),
        fs_(fs),
        state_(std::move(state)) {}

  IOStatus Append(const Slice& data, const IOOptions& options,
                  IODebugContext* dbg) override {
    return fs_->TrackedWrite(*state_, std::nullopt, data.size(), [&] {
      return target()->Append(data, options, dbg);
    });
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const rocksdb::DataVerificationInfo& verification,
                  IODebugContext* dbg) override {
    return fs_->TrackedWrite(*state_, std::nullopt, data.size(), [&] {
      return target()->Append(data, options, verification, dbg);
    });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset,
                            const IOOptions& options,
                            IODebugContext* dbg) override {
    return fs_->TrackedWrite(*state_, offset, data.size(), [&] {
      return target()->PositionedAppend(data, offset, options, dbg);
    });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset,
                            const IOOptions& options,
                            const rocksdb::DataVerificationInfo& verification,
                            IODebugContext* dbg) override {
    return fs_->TrackedWrite(*state_, offset, data.size(), [&] {
      return target()->PositionedAppend(data, offset, options, verification,
                                        dbg);
    });
  }
  IOStatus Truncate(uint64_t size, const IOOptions& options,
                    IODebugContext* dbg) override {
    return fs_->TrackedTruncate(
        *state_, size, [&] { return target()->Truncate(size, options, dbg); });
  }
  IOStatus Close(const IOOptions& options, IODebugContext* dbg) override {
    return fs_->TrackedClose([&] { return target()->Close(options, dbg); });
  }
  IOStatus Flush(const IOOptions& options, IODebugContext* dbg) override {
    return fs_->Mutate([&] { return target()->Flush(options, dbg); });
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    return fs_->TrackedSync(*state_,
                            [&] { return target()->Sync(options, dbg); });
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    return fs_->TrackedSync(*state_,
                            [&] { return target()->Fsync(options, dbg); });
  }
  // Starts write-back only; durability needs Sync or Fsync.
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& options,
                     IODebugContext* dbg) override {
    return fs_->Mutate(
        [&] { return target()->RangeSync(offset, nbytes, options, dbg); });
  }
  IOStatus Allocate(uint64_t offset, uint64_t len, const IOOptions& options,
                    IODebugContext* dbg) override {
    return fs_->Mutate(
        [&] { return target()->Allocate(offset, len, options, dbg); });
  }
  void PrepareWrite(size_t offset, size_t len, const IOOptions& options,
                    IODebugContext* dbg) override {
    // Preallocation is best effort; after the cut it simply does not happen.
    IOStatus ignored = fs_->Mutate([&] {
      target()->PrepareWrite(offset, len, options, dbg);
      return IOStatus::OK();
    });
    ignored.PermitUncheckedError();
  }

 private:
  PowerLossFileSystem* const fs_;
  const std::shared_ptr<FileState> state_;
};

class PowerLossFileSystem::TrackedRandomRWFile
    : public rocksdb::FSRandomRWFileOwnerWrapper {
 public:
  TrackedRandomRWFile(PowerLossFileSystem* fs,
                      std::unique_ptr<rocksdb::FSRandomRWFile> file,
                      std::shared_ptr<FileState> state)
      : FSRandomRWFileOwnerWrapper(std::move(file)),
        fs_(fs),
        state_(std::move(state)) {}

  IOStatus Write(uint64_t offset, const Slice& data, const IOOptions& options,
                 IODebugContext* dbg) override {
    return fs_->TrackedWrite(*state_, offset, data.size(), [&] {
      return target()->Write(offset, data, options, dbg);
    });
  }
  IOStatus Flush(const IOOptions& options, IODebugContext* dbg) override {
    return fs_->Mutate([&] { return target()->Flush(options, dbg); });
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    return fs_->TrackedSync(*state_,
                            [&] { return target()->Sync(options, dbg); });
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    return fs_->TrackedSync(*state_,
                            [&] { return target()->Fsync(options, dbg); });
  }
  IOStatus Close(const IOOptions& options, IODebugContext* dbg) override {
    return fs_->TrackedClose([&] { return target()->Close(options, dbg); });
  }

 private:
  PowerLossFileSystem* const fs_;
  const std::shared_ptr<FileState> state_;
};

// Directory fsyncs fail after the cut. Metadata is otherwise not modelled
// (see the class comment), so a successful one records nothing.
class PowerLossFileSystem::GuardedDirectory
    : public rocksdb::FSDirectoryWrapper {
 public:
  GuardedDirectory(PowerLossFileSystem* fs,
                   std::unique_ptr<rocksdb::FSDirectory> dir)
      : FSDirectoryWrapper(std::move(dir)), fs_(fs) {}

  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    return fs_->Mutate([&] { return FSDirectoryWrapper::Fsync(options, dbg); });
  }
  IOStatus FsyncWithDirOptions(
      const IOOptions& options, IODebugContext* dbg,
      const rocksdb::DirFsyncOptions& dir_fsync_options) override {
    return fs_->Mutate([&] {
      return FSDirectoryWrapper::FsyncWithDirOptions(options, dbg,
                                                     dir_fsync_options);
    });
  }

 private:
  PowerLossFileSystem* const fs_;
};

PowerLossFileSystem::PowerLossFileSystem(
    std::shared_ptr<rocksdb::FileSystem> target)
    : FileSystemWrapper(target) {}

PowerLossFileSystem::~PowerLossFileSystem() = default;

void PowerLossFileSystem::LosePower() {
  absl::WriterMutexLock lock(&in_flight_mu_);
  Cut();
}

void PowerLossFileSystem::LosePowerAfter(int64_t mutations) {
  if (mutations <= 0) return LosePower();
  mutations_left_.store(mutations);
}

void PowerLossFileSystem::AwaitPowerLoss() {
  cut_.WaitForNotification();
  // Let the calls admitted before the cut finish.
  absl::WriterMutexLock lock(&in_flight_mu_);
}

bool PowerLossFileSystem::power_lost() const { return power_lost_.load(); }

void PowerLossFileSystem::Cut() {
  if (!power_lost_.exchange(true)) cut_.Notify();
}

bool PowerLossFileSystem::Admit() {
  if (power_lost_.load()) return false;
  int64_t left = mutations_left_.load();
  for (;;) {
    if (left < 0) return true;  // not armed
    if (left == 0) {
      Cut();
      return false;
    }
    if (mutations_left_.compare_exchange_weak(left, left - 1)) return true;
  }
}

absl::StatusOr<PowerLossSummary> PowerLossFileSystem::ApplyLoss() {
  LosePower();
  std::map<std::string, std::shared_ptr<FileState>> files;
  {
    absl::MutexLock lock(&files_mu_);
    files.swap(files_);
  }
  PowerLossSummary summary;
  const IOOptions options;
  for (const auto& [name, state] : files) {
    uint64_t size = 0;
    IOStatus s = target()->GetFileSize(name, options, &size, nullptr);
    if (s.IsNotFound() || s.IsPathNotFound()) continue;
    if (!s.ok()) return FromRocks(s, absl::StrCat("size of ", name));
    if (state->created && !state->synced) {
      s = target()->DeleteFile(name, options, nullptr);
      if (!s.ok()) return FromRocks(s, absl::StrCat("delete ", name));
      ++summary.files_deleted;
      summary.bytes_dropped += size;
    } else if (size > state->durable_size) {
      // The default FileSystem of RocksDB 7.8 does not implement Truncate.
      if (::truncate(name.c_str(), static_cast<off_t>(state->durable_size)) !=
          0) {
        int error = errno;
        return absl::Status(
            absl::ErrnoToStatusCode(error),
            absl::StrCat("truncate ", name, ": ", std::strerror(error)));
      }
      ++summary.files_truncated;
      summary.bytes_dropped += size - state->durable_size;
    }
  }
  return summary;
}

IOStatus PowerLossFileSystem::Mutate(absl::FunctionRef<IOStatus()> op) {
  absl::ReaderMutexLock in_flight(&in_flight_mu_);
  if (!Admit()) return PowerLost();
  return op();
}

IOStatus PowerLossFileSystem::TrackedWrite(
    FileState& file, std::optional<uint64_t> offset, size_t n,
    absl::FunctionRef<IOStatus()> write) {
  absl::ReaderMutexLock in_flight(&in_flight_mu_);
  if (!Admit()) return PowerLost();
  IOStatus s = write();
  if (s.ok()) {
    absl::MutexLock lock(&files_mu_);
    file.size =
        offset.has_value() ? std::max(file.size, *offset + n) : file.size + n;
  }
  return s;
}

IOStatus PowerLossFileSystem::TrackedSync(FileState& file,
                                          absl::FunctionRef<IOStatus()> sync) {
  absl::ReaderMutexLock in_flight(&in_flight_mu_);
  if (!Admit()) return PowerLost();
  // A write racing with the sync may or may not be covered by it; count
  // only what was written before it began.
  uint64_t written;
  {
    absl::MutexLock lock(&files_mu_);
    written = file.size;
  }
  IOStatus s = sync();
  if (s.ok()) {
    absl::MutexLock lock(&files_mu_);
    file.synced = true;
    file.durable_size =
        std::max(file.durable_size, std::min(written, file.size));
  }
  return s;
}

IOStatus PowerLossFileSystem::TrackedTruncate(
    FileState& file, uint64_t size, absl::FunctionRef<IOStatus()> truncate) {
  absl::ReaderMutexLock in_flight(&in_flight_mu_);
  if (!Admit()) return PowerLost();
  IOStatus s = truncate();
  if (s.ok()) {
    absl::MutexLock lock(&files_mu_);
    file.size = size;
    // An unsynced truncation may or may not survive; assume the bytes are
    // gone either way.
    file.durable_size = std::min(file.durable_size, size);
  }
  return s;
}

IOStatus PowerLossFileSystem::TrackedClose(
    absl::FunctionRef<IOStatus()> close) {
  absl::ReaderMutexLock in_flight(&in_flight_mu_);
  IOStatus s = close();
  if (power_lost_.load()) {
    s.PermitUncheckedError();
    return PowerLost();
  }
  return s;
}

std::shared_ptr<PowerLossFileSystem::FileState> PowerLossFileSystem::Track(
    const std::string& fname, bool created, uint64_t size,
    uint64_t durable_size) {
  auto state = std::make_shared<FileState>();
  state->created = created;
  state->size = size;
  state->durable_size = durable_size;
  absl::MutexLock lock(&files_mu_);
  files_[fname] = state;
  return state;
}

std::shared_ptr<PowerLossFileSystem::FileState>
PowerLossFileSystem::TrackExisting(const std::string& fname,
                                   const IOOptions& options,
                                   IODebugContext* dbg) {
  {
    absl::MutexLock lock(&files_mu_);
    auto it = files_.find(fname);
    if (it != files_.end()) return it->second;
  }
  uint64_t size = 0;
  bool exists = target()->GetFileSize(fname, options, &size, dbg).ok();
  return Track(fname, /*created=*/!exists, size, size);
}

IOStatus PowerLossFileSystem::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* dbg) {
  return Mutate([&] {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    IOStatus s = target()->NewWritableFile(fname, options, &file, dbg);
    if (!s.ok()) return s;
    *result = std::make_unique<TrackedWritableFile>(
        this, std::move(file), Track(fname, /*created=*/true, 0, 0));
    return s;
  });
}

IOStatus PowerLossFileSystem::ReopenWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* dbg) {
  return Mutate([&] {
    std::shared_ptr<FileState> state =
        TrackExisting(fname, options.io_options, dbg);
    std::unique_ptr<rocksdb::FSWritableFile> file;
    IOStatus s = target()->ReopenWritableFile(fname, options, &file, dbg);
    if (!s.ok()) return s;
    *result = std::make_unique<TrackedWritableFile>(this, std::move(file),
                                                    std::move(state));
    return s;
  });
}

IOStatus PowerLossFileSystem::ReuseWritableFile(
    const std::string& fname, const std::string& old_fname,
    const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* dbg) {
  return Mutate([&] {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    IOStatus s =
        target()->ReuseWritableFile(fname, old_fname, options, &file, dbg);
    if (!s.ok()) return s;
    {
      absl::MutexLock lock(&files_mu_);
      files_.erase(old_fname);
    }
    // The recycled file is rewritten from offset 0; only what is synced from
    // now on survives (see the class comment).
    *result = std::make_unique<TrackedWritableFile>(
        this, std::move(file), Track(fname, /*created=*/false, 0, 0));
    return s;
  });
}

IOStatus PowerLossFileSystem::NewRandomRWFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSRandomRWFile>* result, IODebugContext* dbg) {
  return Mutate([&] {
    std::shared_ptr<FileState> state =
        TrackExisting(fname, options.io_options, dbg);
    std::unique_ptr<rocksdb::FSRandomRWFile> file;
    IOStatus s = target()->NewRandomRWFile(fname, options, &file, dbg);
    if (!s.ok()) return s;
    *result = std::make_unique<TrackedRandomRWFile>(this, std::move(file),
                                                    std::move(state));
    return s;
  });
}

IOStatus PowerLossFileSystem::NewMemoryMappedFileBuffer(
    const std::string& fname,
    std::unique_ptr<rocksdb::MemoryMappedFileBuffer>* /*result*/) {
  return IOStatus::NotSupported(
      "PowerLossFileSystem cannot track writes through a memory map", fname);
}

IOStatus PowerLossFileSystem::NewDirectory(
    const std::string& name, const IOOptions& options,
    std::unique_ptr<rocksdb::FSDirectory>* result, IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSDirectory> dir;
  IOStatus s = target()->NewDirectory(name, options, &dir, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<GuardedDirectory>(this, std::move(dir));
  return s;
}

IOStatus PowerLossFileSystem::DeleteFile(const std::string& fname,
                                         const IOOptions& options,
                                         IODebugContext* dbg) {
  return Mutate([&] {
    IOStatus s = target()->DeleteFile(fname, options, dbg);
    if (s.ok()) {
      absl::MutexLock lock(&files_mu_);
      files_.erase(fname);
    }
    return s;
  });
}

IOStatus PowerLossFileSystem::Truncate(const std::string& fname, size_t size,
                                       const IOOptions& options,
                                       IODebugContext* dbg) {
  return Mutate([&] {
    IOStatus s = target()->Truncate(fname, size, options, dbg);
    if (s.ok()) {
      absl::MutexLock lock(&files_mu_);
      auto it = files_.find(fname);
      if (it != files_.end()) {
        it->second->size = size;
        it->second->durable_size =
            std::min<uint64_t>(it->second->durable_size, size);
      }
    }
    return s;
  });
}

IOStatus PowerLossFileSystem::RenameFile(const std::string& src,
                                         const std::string& target_name,
                                         const IOOptions& options,
                                         IODebugContext* dbg) {
  return Mutate([&] {
    IOStatus s = target()->RenameFile(src, target_name, options, dbg);
    if (s.ok()) {
      absl::MutexLock lock(&files_mu_);
      auto it = files_.find(src);
      if (it != files_.end()) {
        files_[target_name] = it->second;
        files_.erase(it);
      } else {
        // An untracked (pre-existing) file replaced a tracked one.
        files_.erase(target_name);
      }
    }
    return s;
  });
}

IOStatus PowerLossFileSystem::LinkFile(const std::string& src,
                                       const std::string& target_name,
                                       const IOOptions& options,
                                       IODebugContext* dbg) {
  return Mutate([&] {
    IOStatus s = target()->LinkFile(src, target_name, options, dbg);
    if (s.ok()) {
      absl::MutexLock lock(&files_mu_);
      auto it = files_.find(src);
      if (it != files_.end()) files_[target_name] = it->second;
    }
    return s;
  });
}

IOStatus PowerLossFileSystem::CreateDir(const std::string& dirname,
                                        const IOOptions& options,
                                        IODebugContext* dbg) {
  return Mutate([&] { return target()->CreateDir(dirname, options, dbg); });
}

IOStatus PowerLossFileSystem::CreateDirIfMissing(const std::string& dirname,
                                                 const IOOptions& options,
                                                 IODebugContext* dbg) {
  return Mutate(
      [&] { return target()->CreateDirIfMissing(dirname, options, dbg); });
}

IOStatus PowerLossFileSystem::DeleteDir(const std::string& dirname,
                                        const IOOptions& options,
                                        IODebugContext* dbg) {
  return Mutate([&] { return target()->DeleteDir(dirname, options, dbg); });
}

IOStatus PowerLossFileSystem::LockFile(const std::string& fname,
                                       const IOOptions& options,
                                       rocksdb::FileLock** lock,
                                       IODebugContext* dbg) {
  return Mutate([&] { return target()->LockFile(fname, options, lock, dbg); });
}

}  // namespace tcc::testing
