// Engine errors: the engine never aborts on bad input; it throws cl::Error with a stable code
// (the same codes as src/errors.ts) that the addon turns into a JS Error with `code` set.
#pragma once
#include <stdexcept>
#include <string>

namespace cl {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

[[noreturn]] inline void fail(const char* code, const std::string& message) { throw Error(code, message); }

}  // namespace cl
