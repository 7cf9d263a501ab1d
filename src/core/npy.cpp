// .npy reader and writer. Format facts (from NumPy's format specification): 6-byte magic "\x93NUMPY", one byte
// major and one byte minor version, a little-endian header length (uint16 for 1.x, uint32 for 2.x/3.x), then an
// ASCII (3.x: UTF-8) Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...), } padded with spaces
// and ending in '\n', then the raw elements.
#include "core/npy.h"

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

namespace kiln {

static_assert(std::endian::native == std::endian::little, "the .npy code assumes a little-endian host");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// NumPy itself refuses headers above 10 000 bytes by default; allow more, but bound what a hostile file can make
// us read before the data.
constexpr size_t kMaxHeaderBytes = size_t{1} << 20;

struct NpyHeader {
  DataType dtype = DataType::kUndefined;
  Dims dims;
  size_t dataOffset = 0;
  size_t dataBytes = 0;
};

struct DescrEntry {
  const char* code;  // kind + item size, without the byte-order character
  DataType type;
};
constexpr DescrEntry kDescrs[] = {
    {"f2", DataType::kFloat16}, {"f4", DataType::kFloat32}, {"f8", DataType::kFloat64},
    {"i1", DataType::kInt8},    {"i2", DataType::kInt16},   {"i4", DataType::kInt32},
    {"i8", DataType::kInt64},   {"u1", DataType::kUInt8},   {"u2", DataType::kUInt16},
    {"u4", DataType::kUInt32},  {"u8", DataType::kUInt64},  {"b1", DataType::kBool},
};

// A tiny recursive-descent reader for the one dict literal NumPy writes. Every failure names what it expected.
class HeaderReader {
 public:
  HeaderReader(std::string_view text, const std::string& source) : s_(text), source_(source) {}

  Expected<NpyHeader> read() {
    NpyHeader h;
    std::optional<std::string> descr;
    std::optional<bool> fortran;
    std::optional<Dims> shape;
    skipSpace();
    if (!consume('{')) return fail("expected '{' at the start of the header");
    skipSpace();
    while (!peekIs('}')) {
      KILN_ASSIGN_OR_RETURN(std::string key, readString());
      skipSpace();
      if (!consume(':')) return fail("expected ':' after key '" + key + "'");
      skipSpace();
      if (key == "descr") {
        if (descr) return fail("duplicate key 'descr'");
        if (peekIs('[')) return fail("structured dtypes (a list 'descr') are not supported");
        KILN_ASSIGN_OR_RETURN(descr, readString());
      } else if (key == "fortran_order") {
        if (fortran) return fail("duplicate key 'fortran_order'");
        KILN_ASSIGN_OR_RETURN(fortran, readBool());
      } else if (key == "shape") {
        if (shape) return fail("duplicate key 'shape'");
        KILN_ASSIGN_OR_RETURN(shape, readShape());
      } else {
        return fail("unexpected key '" + key + "' (a .npy header has exactly 'descr', 'fortran_order', 'shape')");
      }
      skipSpace();
      if (!consume(',')) {
        skipSpace();
        if (!peekIs('}')) return fail("expected ',' or '}' after the value of '" + key + "'");
      }
      skipSpace();
    }
    consume('}');
    // NumPy pads with spaces and ends with '\n'; anything else after the dict is corruption.
    for (size_t i = pos_; i < s_.size(); ++i)
      if (s_[i] != ' ' && s_[i] != '\n' && s_[i] != '\r' && s_[i] != '\t' && s_[i] != '\0')
        return fail("unexpected text after the header dict at byte " + std::to_string(i));
    if (!descr) return fail("missing key 'descr'");
    if (!fortran) return fail("missing key 'fortran_order'");
    if (!shape) return fail("missing key 'shape'");
    if (*fortran)
      return invalidArgument(source_ + ": fortran_order is True; kiln reads only C-order arrays (save with "
                                       "np.ascontiguousarray)");
    KILN_ASSIGN_OR_RETURN(h.dtype, dtypeOf(*descr));
    h.dims = std::move(*shape);
    return h;
  }

 private:
  Status fail(const std::string& what) const { return invalidArgument(source_ + ": malformed .npy header: " + what); }
  void skipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool peekIs(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool consume(char c) {
    if (!peekIs(c)) return false;
    ++pos_;
    return true;
  }
  Expected<std::string> readString() {
    if (pos_ >= s_.size()) return fail("header ends where a quoted string was expected");
    const char quote = s_[pos_];
    if (quote != '\'' && quote != '"') return fail("expected a quoted string at byte " + std::to_string(pos_));
    const size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) return fail("unterminated string at byte " + std::to_string(pos_));
    std::string r(s_.substr(pos_ + 1, end - pos_ - 1));
    if (r.size() > 64) return fail("string longer than 64 characters at byte " + std::to_string(pos_));
    pos_ = end + 1;
    return r;
  }
  Expected<bool> readBool() {
    if (s_.substr(pos_, 4) == "True") { pos_ += 4; return true; }
    if (s_.substr(pos_, 5) == "False") { pos_ += 5; return false; }
    return fail("'fortran_order' must be True or False");
  }
  Expected<Dims> readShape() {
    if (!consume('(')) return fail("'shape' must be a tuple such as (2, 3)");
    Dims dims;
    skipSpace();
    while (!peekIs(')')) {
      if (pos_ >= s_.size()) return fail("unterminated 'shape' tuple");
      if (s_[pos_] < '0' || s_[pos_] > '9')
        return fail("dimension " + std::to_string(dims.size()) + " of 'shape' is not a non-negative integer");
      int64_t v = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        const int digit = s_[pos_] - '0';
        if (v > (std::numeric_limits<int64_t>::max() - digit) / 10)
          return fail("dimension " + std::to_string(dims.size()) + " of 'shape' overflows int64");
        v = v * 10 + digit;
        ++pos_;
      }
      if (peekIs('L')) ++pos_;  // Python 2 long suffix
      if (dims.size() >= 64) return fail("'shape' has more than 64 dimensions");
      dims.push_back(v);
      skipSpace();
      if (!consume(',')) {
        skipSpace();
        if (!peekIs(')')) return fail("expected ',' or ')' in 'shape'");
      }
      skipSpace();
    }
    consume(')');
    return dims;
  }
  Expected<DataType> dtypeOf(const std::string& descr) const {
    if (descr.size() != 3)
      return invalidArgument(source_ + ": unsupported dtype '" + descr + "' (supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 "
                                                                         "u4 u8 b1, little-endian)");
    const char order = descr[0];
    const std::string code = descr.substr(1);
    for (const DescrEntry& e : kDescrs) {
      if (code != e.code) continue;
      const bool singleByte = dataTypeSize(e.type) == 1;
      if (order == '>' && !singleByte)
        return invalidArgument(source_ + ": dtype '" + descr + "' is big-endian; kiln reads little-endian arrays "
                                                               "(convert with arr.astype(arr.dtype.newbyteorder('<')))");
      if (order == '<' || order == '|' || order == '=' || (singleByte && order == '>')) return e.type;
      return invalidArgument(source_ + ": dtype '" + descr + "' has an unknown byte-order character");
    }
    return invalidArgument(source_ + ": unsupported dtype '" + descr + "' (supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 "
                                                                       "u8 b1, little-endian)");
  }

  std::string_view s_;
  const std::string& source_;
  size_t pos_ = 0;
};

uint32_t readLittleEndian(const unsigned char* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Validates the preamble and header in `prefix` (the file's first bytes, possibly the whole file) against the total
// size, so the caller can allocate exactly once and only after every field checked out.
Expected<NpyHeader> parseHeader(const unsigned char* prefix, size_t prefixSize, size_t totalSize,
                                const std::string& source) {
  if (prefixSize < kMagicSize + 2 || std::memcmp(prefix, kMagic, kMagicSize) != 0)
    return invalidArgument(source + ": not a .npy file (missing the \\x93NUMPY magic; file has " +
                           std::to_string(totalSize) + " bytes)");
  const int major = prefix[6], minor = prefix[7];
  if (major < 1 || major > 3 || minor != 0)
    return invalidArgument(source + ": unsupported .npy format version " + std::to_string(major) + "." +
                           std::to_string(minor) + " (kiln reads 1.0, 2.0 and 3.0)");
  const size_t lengthBytes = major == 1 ? 2 : 4;
  const size_t preamble = kMagicSize + 2 + lengthBytes;
  if (prefixSize < preamble) return invalidArgument(source + ": truncated .npy file (ends inside the preamble)");
  const size_t headerLen = readLittleEndian(prefix + kMagicSize + 2, static_cast<int>(lengthBytes));
  if (headerLen > kMaxHeaderBytes)
    return invalidArgument(source + ": .npy header length " + std::to_string(headerLen) + " exceeds the " +
                           std::to_string(kMaxHeaderBytes) + "-byte limit");
  if (prefixSize < preamble + headerLen)
    return invalidArgument(source + ": truncated .npy file (header says " + std::to_string(headerLen) +
                           " bytes, file has " + std::to_string(totalSize - preamble) + " after the preamble)");
  std::string_view text(reinterpret_cast<const char*>(prefix + preamble), headerLen);
  KILN_ASSIGN_OR_RETURN(NpyHeader h, HeaderReader(text, source).read());
  h.dataOffset = preamble + headerLen;
  const int64_t count = elementCount(h.dims);
  const size_t item = dataTypeSize(h.dtype);
  if (count < 0 || static_cast<uint64_t>(count) > std::numeric_limits<size_t>::max() / item)
    return invalidArgument(source + ": shape " + dimsToString(h.dims) + " has too many elements");
  h.dataBytes = static_cast<size_t>(count) * item;
  const size_t available = totalSize - h.dataOffset;
  if (available < h.dataBytes)
    return invalidArgument(source + ": truncated .npy data: shape " + dimsToString(h.dims) + " of " +
                           dataTypeName(h.dtype) + " needs " + std::to_string(h.dataBytes) + " bytes, file has " +
                           std::to_string(available));
  if (available > h.dataBytes)
    return invalidArgument(source + ": .npy file has " + std::to_string(available - h.dataBytes) +
                           " unexpected bytes after the data of shape " + dimsToString(h.dims));
  return h;
}

Status checkBoolBytes(const Tensor& t, const std::string& source) {
  if (t.dtype() != DataType::kBool) return Status::ok();
  const auto* p = t.dataAs<unsigned char>();
  for (size_t i = 0; i < t.byteSize(); ++i)
    if (p[i] > 1)
      return invalidArgument(source + ": bool element " + std::to_string(i) + " holds byte value " +
                             std::to_string(p[i]) + " (must be 0 or 1)");
  return Status::ok();
}

std::string shapeLiteral(const Dims& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[i]);
  }
  if (dims.size() == 1) s += ",";
  return s + ")";
}

}  // namespace

std::string npyDescr(DataType type) {
  for (const DescrEntry& e : kDescrs)
    if (e.type == type) return std::string(dataTypeSize(type) == 1 ? "|" : "<") + e.code;
  return "";
}

Expected<Tensor> parseNpy(const void* data, size_t size, const std::string& source) {
  if (data == nullptr && size != 0) return invalidArgument(source + ": null data");
  const auto* bytes = static_cast<const unsigned char*>(data);
  KILN_ASSIGN_OR_RETURN(NpyHeader h, parseHeader(bytes, size, size, source));
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(h.dtype, h.dims));
  if (h.dataBytes) std::memcpy(t.data(), bytes + h.dataOffset, h.dataBytes);
  KILN_RETURN_IF_ERROR(checkBoolBytes(t, source));
  return t;
}

Expected<Tensor> readNpyFile(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return ioError("cannot open '" + path + "': no such file");
  if (!std::filesystem::is_regular_file(status)) return ioError("cannot read '" + path + "': not a regular file");
  const uintmax_t fileSize = std::filesystem::file_size(path, ec);
  if (ec) return ioError("cannot read the size of '" + path + "': " + ec.message());
  std::ifstream f(path, std::ios::binary);
  if (!f) return ioError("cannot open '" + path + "': " + std::strerror(errno));
  const size_t prefixSize = static_cast<size_t>(std::min<uintmax_t>(fileSize, 12 + kMaxHeaderBytes));
  std::vector<unsigned char> prefix(prefixSize);
  if (!f.read(reinterpret_cast<char*>(prefix.data()), static_cast<std::streamsize>(prefixSize)))
    return ioError("failed reading '" + path + "'");
  KILN_ASSIGN_OR_RETURN(NpyHeader h, parseHeader(prefix.data(), prefixSize, static_cast<size_t>(fileSize), path));
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(h.dtype, h.dims));
  f.clear();
  f.seekg(static_cast<std::streamoff>(h.dataOffset));
  if (h.dataBytes && !f.read(static_cast<char*>(t.data()), static_cast<std::streamsize>(h.dataBytes)))
    return ioError("failed reading " + std::to_string(h.dataBytes) + " data bytes from '" + path + "'");
  KILN_RETURN_IF_ERROR(checkBoolBytes(t, path));
  return t;
}

Expected<std::vector<std::byte>> encodeNpy(const Tensor& tensor) {
  const std::string descr = npyDescr(tensor.dtype());
  if (descr.empty()) return invalidArgument("cannot save a " + dataTypeName(tensor.dtype()) + " tensor as .npy");
  if (tensor.elementCount() < 0) return invalidArgument("cannot save a tensor of shape " + dimsToString(tensor.dims()));
  if (tensor.data() == nullptr && tensor.byteSize() != 0) return invalidArgument("cannot save a tensor without data");
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shapeLiteral(tensor.dims()) +
                       ", }";
  // Pad with spaces so the data starts on a 64-byte boundary; the header ends with '\n'.
  size_t preamble = 10;
  if (header.size() + 1 + preamble > 65535) preamble = 12;
  const size_t total = (preamble + header.size() + 1 + 63) / 64 * 64;
  header.append(total - preamble - header.size() - 1, ' ');
  header.push_back('\n');
  std::vector<std::byte> out(total + tensor.byteSize());
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  std::memcpy(p, kMagic, kMagicSize);
  p[6] = preamble == 10 ? 1 : 2;
  p[7] = 0;
  const size_t len = header.size();
  for (size_t i = 0; i < preamble - 8; ++i) p[8 + i] = static_cast<unsigned char>((len >> (8 * i)) & 0xff);
  std::memcpy(p + preamble, header.data(), header.size());
  if (tensor.byteSize()) std::memcpy(p + total, tensor.data(), tensor.byteSize());
  return out;
}

Status writeNpyFile(const std::string& path, const Tensor& tensor) {
  KILN_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, encodeNpy(tensor));
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return ioError("cannot open '" + path + "' for writing: " + std::strerror(errno));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) return ioError("failed writing " + std::to_string(bytes.size()) + " bytes to '" + path + "'");
  return Status::ok();
}

}  // namespace kiln
