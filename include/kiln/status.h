// kiln — errors as values. Every fallible call returns Status or Expected<T>; nothing throws across the API.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace kiln {

/// What kind of failure a Status carries; the message says where and why.
enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,  ///< the caller passed something wrong (shape outside profile, bad flag)
  kInvalidModel = 2,     ///< the ONNX model is malformed or inconsistent
  kUnsupported = 3,      ///< a valid model uses something kiln does not implement
  kInvalidEngine = 4,    ///< the engine file is truncated, tampered, or of another format/GPU
  kIoError = 5,          ///< a file could not be read or written
  kOutOfMemory = 6,      ///< host or device allocation failed; the caller may free memory and retry
  kDeviceError = 7,      ///< a CUDA/cuDNN/cuBLAS call failed
  kInternal = 8,         ///< a kiln bug: please report it
};

const char* statusCodeName(StatusCode code);

/// The result of a fallible call without a value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }

  bool isOk() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return isOk(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  /// "InvalidModel: node 'conv1' (Conv): ..." — for printing.
  std::string toString() const;
  /// Returns a copy whose message starts with `context`: "context: message".
  Status withContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status invalidModel(std::string m) { return {StatusCode::kInvalidModel, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status invalidEngine(std::string m) { return {StatusCode::kInvalidEngine, std::move(m)}; }
inline Status ioError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status outOfMemory(std::string m) { return {StatusCode::kOutOfMemory, std::move(m)}; }
inline Status deviceError(std::string m) { return {StatusCode::kDeviceError, std::move(m)}; }
inline Status internalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

/// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Expected(Status status) : v_(std::move(status)) {}  // NOLINT: must not be ok
  bool hasValue() const { return v_.index() == 0; }
  explicit operator bool() const { return hasValue(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  /// The error; Status::ok() when a value is present.
  Status status() const { return hasValue() ? Status::ok() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kiln

/// Return early from the enclosing function when `expr` (a Status) failed.
#define KILN_RETURN_IF_ERROR(expr)          \
  do {                                      \
    ::kiln::Status kiln_status_ = (expr);   \
    if (!kiln_status_.isOk()) return kiln_status_; \
  } while (0)

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)
/// `KILN_ASSIGN_OR_RETURN(auto x, makeX());` — unwrap an Expected or return its Status.
#define KILN_ASSIGN_OR_RETURN(lhs, expr) KILN_ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(kiln_expected_, __LINE__), lhs, expr)
#define KILN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.hasValue()) return tmp.status();        \
  lhs = std::move(tmp).value()
