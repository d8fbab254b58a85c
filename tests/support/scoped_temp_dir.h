#ifndef TCC_TESTS_SUPPORT_SCOPED_TEMP_DIR_H_
#define TCC_TESTS_SUPPORT_SCOPED_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace tcc::testing {

// A fresh directory under the test temp dir, removed with its contents on
// destruction.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string pattern = ::testing::TempDir() + "tcc_test_XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << pattern;
    }
    path_ = pattern;
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  ~ScopedTempDir() {
    if (keep_) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const { return path_; }
  // Leaves the directory and its contents in place on destruction (to look
  // at logs after a failure).
  void Keep() { keep_ = true; }

  // A path inside the directory (not created).
  std::string Child(const std::string& name) const {
    return path_ + "/" + name;
  }

 private:
  std::string path_;
  bool keep_ = false;
};

}  // namespace tcc::testing

#endif  // TCC_TESTS_SUPPORT_SCOPED_TEMP_DIR_H_
