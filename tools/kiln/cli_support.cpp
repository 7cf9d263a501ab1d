#include "cli_support.h"

#include <bit>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/half.h"
#include "core/npy.h"
#include "core/tensor_values.h"

namespace kiln::cli {

Status checkReadableFile(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) return ioError("cannot open '" + path + "': no such file");
  if (std::filesystem::is_directory(st)) return ioError("cannot read '" + path + "': it is a directory");
  std::ifstream f(path, std::ios::binary);
  if (!f) return ioError("cannot open '" + path + "' for reading (permission denied?)");
  return Status::ok();
}

bool hasEngineMagic(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char head[sizeof(kEngineMagic)] = {};
  if (!f.read(head, sizeof(head))) return false;
  return std::memcmp(head, kEngineMagic, sizeof(head)) == 0;
}

Expected<std::shared_ptr<Engine>> loadEngine(const std::string& path) {
  KILN_RETURN_IF_ERROR(checkReadableFile(path));
  if (!hasEngineMagic(path)) {
    std::string hint;
    if (std::filesystem::path(path).extension() == ".onnx")
      hint = "; it looks like an ONNX model: build an engine first with 'kiln build " + path + " -o model.kiln'";
    return invalidEngine("'" + path + "' is not a kiln engine file (it does not start with the KILNENG magic)" + hint);
  }
  auto engine = Engine::load(path);
  if (!engine) return engine.status().withContext("cannot load engine '" + path + "'");
  return engine;
}

std::string describeDims(const TensorDesc& desc) {
  if (desc.dims.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < desc.dims.size(); ++i) {
    if (i) s += "x";
    const std::string symbol = i < desc.dimNames.size() ? desc.dimNames[i] : "";
    if (desc.dims[i] != kDynamicDim) s += std::to_string(desc.dims[i]);
    else s += symbol.empty() ? "?" : symbol;
  }
  return s;
}

std::string describeTensor(const TensorDesc& desc) {
  return "'" + desc.name + "' " + dataTypeName(desc.dtype) + " [" + describeDims(desc) + "]";
}

namespace {

bool isDynamic(const Dims& dims) {
  for (int64_t d : dims)
    if (d == kDynamicDim) return true;
  return false;
}

std::string namesOf(const std::vector<TensorDesc>& descs) {
  std::string s;
  for (const TensorDesc& d : descs) s += (s.empty() ? "'" : ", '") + d.name + "'";
  return s.empty() ? "(none)" : s;
}

bool containsMask(const std::string& name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("mask") != std::string::npos;
}

}  // namespace

void fillRandom(Tensor& t, const std::string& inputName, std::mt19937_64& rng) {
  const int64_t n = t.elementCount();
  std::uniform_real_distribution<float> magnitude(0.1f, 1.0f);
  std::uniform_int_distribution<int> smallInt(1, 9), bit(0, 1);
  const bool mask = containsMask(inputName);
  auto nextFloat = [&] { return bit(rng) ? magnitude(rng) : -magnitude(rng); };
  auto nextInt = [&] { return mask ? bit(rng) : smallInt(rng); };
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype()) {
      case DataType::kFloat32: t.dataAs<float>()[i] = nextFloat(); break;
      case DataType::kFloat64: t.dataAs<double>()[i] = nextFloat(); break;
      case DataType::kFloat16: t.dataAs<uint16_t>()[i] = floatToHalfBits(nextFloat()); break;
      case DataType::kBFloat16: t.dataAs<uint16_t>()[i] = floatToBfloat16Bits(nextFloat()); break;
      case DataType::kBool: t.dataAs<uint8_t>()[i] = static_cast<uint8_t>(bit(rng)); break;
      case DataType::kInt64: t.dataAs<int64_t>()[i] = nextInt(); break;
      case DataType::kUInt64: t.dataAs<uint64_t>()[i] = static_cast<uint64_t>(nextInt()); break;
      case DataType::kInt32: t.dataAs<int32_t>()[i] = nextInt(); break;
      case DataType::kUInt32: t.dataAs<uint32_t>()[i] = static_cast<uint32_t>(nextInt()); break;
      case DataType::kInt16: t.dataAs<int16_t>()[i] = static_cast<int16_t>(nextInt()); break;
      case DataType::kUInt16: t.dataAs<uint16_t>()[i] = static_cast<uint16_t>(nextInt()); break;
      case DataType::kInt8: t.dataAs<int8_t>()[i] = static_cast<int8_t>(nextInt()); break;
      case DataType::kUInt8: t.dataAs<uint8_t>()[i] = static_cast<uint8_t>(nextInt()); break;
      case DataType::kUndefined: case DataType::kString: return;
    }
  }
}

Expected<std::map<std::string, Tensor>> prepareInputs(const Engine& engine, int profileIndex, const InputPlan& plan,
                                                      bool verbose) {
  const std::vector<TensorDesc> inputs = engine.inputs();
  auto isInput = [&](const std::string& name) {
    for (const TensorDesc& d : inputs)
      if (d.name == name) return true;
    return false;
  };
  for (const NamedShape& s : plan.shapes)
    if (!isInput(s.name))
      return invalidArgument("--shapes names '" + s.name + "', which is not an input of the engine (inputs: " +
                             namesOf(inputs) + ")");
  for (const NamedPath& p : plan.files)
    if (!isInput(p.name))
      return invalidArgument("--loadInputs names '" + p.name + "', which is not an input of the engine (inputs: " +
                             namesOf(inputs) + ")");
  if (profileIndex < 0 || profileIndex >= engine.profileCount())
    return invalidArgument("--profile=" + std::to_string(profileIndex) + " is out of range: the engine has " +
                           std::to_string(engine.profileCount()) + " profile(s)");
  const OptimizationProfile& profile = engine.profile(profileIndex);

  std::mt19937_64 rng(plan.seed);
  std::map<std::string, Tensor> result;
  for (const TensorDesc& desc : inputs) {
    const NamedShape* given = findShape(plan.shapes, desc.name);
    const NamedPath* file = nullptr;
    for (const NamedPath& p : plan.files)
      if (p.name == desc.name) file = &p;

    Tensor loaded;
    if (file) {
      auto t = readNpyFile(file->path);
      if (!t) return t.status().withContext("--loadInputs: input '" + desc.name + "'");
      loaded = *t;
    }
    Dims dims;
    std::string origin;
    if (given) {
      dims = given->dims, origin = "--shapes";
    } else if (file) {
      dims = loaded.dims(), origin = file->path;
    } else if (!isDynamic(desc.dims)) {
      dims = desc.dims, origin = "static";
    } else {
      for (const InputShapeRange& r : profile.inputs)
        if (r.name == desc.name) dims = r.opt, origin = "profile opt";
      if (origin.empty())
        return invalidArgument("input " + describeTensor(desc) + " has dynamic dims and profile " +
                               std::to_string(profileIndex) + " gives no range for it: pass --shapes=" + desc.name +
                               ":...");
    }
    // Rank and static dims must match the declaration (profile ranges are the context's to check).
    bool fits = dims.size() == desc.dims.size();
    for (size_t i = 0; fits && i < dims.size(); ++i) fits = desc.dims[i] == kDynamicDim || desc.dims[i] == dims[i];
    if (file && (!fits || loaded.dtype() != desc.dtype))
      return invalidArgument("--loadInputs: input '" + desc.name + "' expects " + dataTypeName(desc.dtype) +
                             " of shape " + describeDims(desc) + ", but '" + file->path + "' holds " +
                             dataTypeName(loaded.dtype()) + " of shape " + dimsToString(loaded.dims()));
    if (!fits)
      return invalidArgument(origin + ": input " + describeTensor(desc) + " cannot take shape " + dimsToString(dims));
    if (file) {
      if (loaded.dtype() != desc.dtype || loaded.dims() != dims)
        return invalidArgument("--loadInputs: input '" + desc.name + "' expects " + dataTypeName(desc.dtype) +
                               " of shape " + dimsToString(dims) + (given ? " (from --shapes)" : "") + ", but '" +
                               file->path + "' holds " + dataTypeName(loaded.dtype()) + " of shape " +
                               dimsToString(loaded.dims()));
      result.emplace(desc.name, loaded);
    } else {
      auto t = Tensor::allocate(desc.dtype, dims);
      if (!t) return t.status().withContext("input '" + desc.name + "'");
      fillRandom(*t, desc.name, rng);
      result.emplace(desc.name, *t);
    }
    if (verbose)
      std::printf("input  '%s' %s [%s] (shape: %s, values: %s)\n", desc.name.c_str(), dataTypeName(desc.dtype).c_str(),
                  dimsToString(dims).c_str(), origin.c_str(), file ? file->path.c_str() : "random");
  }
  return result;
}

double elementAsDouble(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: case DataType::kFloat64: case DataType::kFloat16: case DataType::kBFloat16:
      return floatElementAsDouble(t, i);
    case DataType::kBool: return t.dataAs<uint8_t>()[i];
    case DataType::kInt64: return static_cast<double>(t.dataAs<int64_t>()[i]);
    case DataType::kUInt64: return static_cast<double>(t.dataAs<uint64_t>()[i]);
    case DataType::kInt32: return t.dataAs<int32_t>()[i];
    case DataType::kUInt32: return t.dataAs<uint32_t>()[i];
    case DataType::kInt16: return t.dataAs<int16_t>()[i];
    case DataType::kUInt16: return t.dataAs<uint16_t>()[i];
    case DataType::kInt8: return t.dataAs<int8_t>()[i];
    case DataType::kUInt8: return t.dataAs<uint8_t>()[i];
    case DataType::kUndefined: case DataType::kString: return 0.0;
  }
  return 0.0;
}

std::string formatValues(const Tensor& t, int64_t count) {
  const int64_t n = t.elementCount();
  if (t.data() == nullptr || n <= 0) return "[]";
  std::ostringstream os;
  os << "[";
  os.precision(6);
  for (int64_t i = 0; i < std::min(n, count); ++i) os << (i ? ", " : "") << elementAsDouble(t, i);
  if (n > count) os << ", ... (" << n << " values)";
  os << "]";
  return os.str();
}

std::string safeFileName(const std::string& tensorName) {
  std::string s = tensorName;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

}  // namespace kiln::cli
