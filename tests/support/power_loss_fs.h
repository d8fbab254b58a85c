#ifndef TCC_TESTS_SUPPORT_POWER_LOSS_FS_H_
#define TCC_TESTS_SUPPORT_POWER_LOSS_FS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "rocksdb/file_system.h"

namespace tcc::testing {

// What PowerLossFileSystem::ApplyLoss() undid.
struct PowerLossSummary {
  int files_truncated = 0;
  int files_deleted = 0;
  uint64_t bytes_dropped = 0;
};

// A RocksDB FileSystem that simulates a power cut, for crash-consistency
// tests of anything built on RocksDB. Wrap it in an Env with
// rocksdb::NewCompositeEnv(fs).
//
// Model. For every file written through this wrapper it tracks the bytes
// written and the prefix a successful Sync() or Fsync() made durable.
// RangeSync, Flush and Close make nothing durable. The cut comes from
// LosePower(), which waits for mutating calls already under way, or from
// LosePowerAfter(), which arms it to fall between two calls the DB's own
// threads make. From then on every mutating call (writes, syncs, creates,
// renames, deletes, directory fsyncs) fails with IOError("power lost")
// without touching the disk. Reads still work, so the process can wind down.
// Once every file handle is closed (the DB is destroyed), ApplyLoss() makes
// the disk look as if the machine had rebooted: each tracked file is
// truncated to its durable prefix, and a file created in this session and
// never synced is deleted.
//
// Simplifications, each in the direction of keeping more than a real disk:
//  - Metadata is durable at once: a rename, link, delete or mkdir done before
//    the cut survives it even if the directory was never fsync'd. RocksDB
//    fsyncs the directory after renaming CURRENT and after creating a WAL, so
//    this does not hide a missing fsync in a RocksDB-based store, but it would
//    in code that relies on its own renames.
//  - A synced file's directory entry survives even without a directory fsync.
//  - Only tails are lost: an unsynced overwrite inside the durable prefix of
//    a NewRandomRWFile keeps its new bytes. (A reused, recycled WAL restarts
//    at size 0, so its stale old bytes past the synced prefix are dropped;
//    RocksDB treats them as garbage anyway.)
//  - The info log (NewLogger) goes straight to the target file system; it is
//    diagnostic only and is not tracked.
// ApplyLoss() truncates with POSIX truncate(2), so the target must be a
// local file system (the default). Memory-mapped write buffers are refused
// (NotSupported): they would bypass the tracking.
//
// Thread-safe.
class PowerLossFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit PowerLossFileSystem(std::shared_ptr<rocksdb::FileSystem> target =
                                   rocksdb::FileSystem::Default());
  ~PowerLossFileSystem() override;

  static const char* kClassName() { return "PowerLossFileSystem"; }
  const char* Name() const override { return kClassName(); }

  // Cuts the power: returns once no mutating call is in progress; every
  // later one fails. Idempotent. Safe to call from any thread while the DB
  // is busy.
  void LosePower();
  // Arms the cut to happen inside the file system, on whichever thread makes
  // the next-but-`mutations` mutating call: `mutations` more calls succeed,
  // the one after fails and the power is out from then on. 0 is LosePower().
  // Replaces an earlier arming.
  void LosePowerAfter(int64_t mutations);
  // Blocks until the power is out (by either means) and the calls admitted
  // before the cut have returned.
  void AwaitPowerLoss();
  bool power_lost() const;

  // Rewrites the directory tree to what survives the cut (see the class
  // comment) and forgets every tracked file. Cuts the power first if
  // LosePower() was not called. Call only once every file opened through
  // this wrapper is closed, i.e. after the DB object is destroyed.
  absl::StatusOr<PowerLossSummary> ApplyLoss();

  // Files.
  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(
      const std::string& fname, const std::string& old_fname,
      const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSRandomRWFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewMemoryMappedFileBuffer(
      const std::string& fname,
      std::unique_ptr<rocksdb::MemoryMappedFileBuffer>* result) override;
  rocksdb::IOStatus NewDirectory(const std::string& name,
                                 const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;

  // Namespace changes.
  rocksdb::IOStatus DeleteFile(const std::string& fname,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& fname, size_t size,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src,
                               const std::string& target_name,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src,
                             const std::string& target_name,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& dirname,
                              const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& dirname,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteDir(const std::string& dirname,
                              const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;
  // Taking the lock creates the LOCK file, so it fails after the cut;
  // releasing it only drops the process's own bookkeeping and always works,
  // so the DB can be reopened in the same process.
  rocksdb::IOStatus LockFile(const std::string& fname,
                             const rocksdb::IOOptions& options,
                             rocksdb::FileLock** lock,
                             rocksdb::IODebugContext* dbg) override;

 private:
  struct FileState;
  class TrackedWritableFile;
  class TrackedRandomRWFile;
  class GuardedDirectory;

  // Runs `op`, a call that changes what is on disk, unless the power is out.
  rocksdb::IOStatus Mutate(absl::FunctionRef<rocksdb::IOStatus()> op);
  // Runs `write` of `n` bytes to `file`, at `offset` or (nullopt) at its end,
  // and records the new size if it succeeded.
  rocksdb::IOStatus TrackedWrite(FileState& file,
                                 std::optional<uint64_t> offset, size_t n,
                                 absl::FunctionRef<rocksdb::IOStatus()> write);
  // Runs `sync` on `file`; if it succeeded, everything written before it
  // started is durable.
  rocksdb::IOStatus TrackedSync(FileState& file,
                                absl::FunctionRef<rocksdb::IOStatus()> sync);
  // Runs `truncate` of `file` to `size` and records the new size.
  rocksdb::IOStatus TrackedTruncate(
      FileState& file, uint64_t size,
      absl::FunctionRef<rocksdb::IOStatus()> truncate);
  // Runs `close`; closing releases the descriptor even after the cut, but
  // then reports the failure.
  rocksdb::IOStatus TrackedClose(absl::FunctionRef<rocksdb::IOStatus()> close);

  // Registers `fname` as written in this session with `size` bytes of which
  // `durable_size` are durable; replaces what was tracked under that name.
  std::shared_ptr<FileState> Track(const std::string& fname, bool created,
                                   uint64_t size, uint64_t durable_size);
  // The state tracked under `fname`, or one for an existing file whose
  // current contents count as durable.
  std::shared_ptr<FileState> TrackExisting(const std::string& fname,
                                           const rocksdb::IOOptions& options,
                                           rocksdb::IODebugContext* dbg);

  // Whether a mutating call may go ahead; cuts the power if the armed
  // countdown is exhausted.
  bool Admit();
  void Cut();

  // Held shared by every mutating call, exclusively by LosePower() and
  // AwaitPowerLoss(), so that they return only between calls.
  absl::Mutex in_flight_mu_;
  std::atomic<bool> power_lost_{false};
  absl::Notification cut_;
  // Mutating calls still allowed before an armed cut; -1: not armed.
  std::atomic<int64_t> mutations_left_{-1};

  // Guards the map and every FileState.
  absl::Mutex files_mu_ ABSL_ACQUIRED_AFTER(in_flight_mu_);
  // By current name. Hard links share one state.
  std::map<std::string, std::shared_ptr<FileState>> files_
      ABSL_GUARDED_BY(files_mu_);
};

}  // namespace tcc::testing

#endif  // TCC_TESTS_SUPPORT_POWER_LOSS_FS_H_
