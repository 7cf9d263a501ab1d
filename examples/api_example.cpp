// The kiln C++ API end to end: parse an ONNX model, build an engine with one optimization profile, write it to a
// file, load it back, create an execution context, set the input shapes and run.
//
//   api_example model.onnx input 4x3x224x224 [other_input 4x16 ...]
//
// Each named input gets the profile min = 1 on its dynamic dims, opt = max = the given shape. Inputs with only
// static dims need no arguments. Float inputs get sin(i)/2, integer and bool inputs get 1.
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "kiln/builder.h"
#include "kiln/runtime.h"

namespace {

bool parseDims(const std::string& text, kiln::Dims& dims) {
  dims.clear();
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find('x', pos), text.size());
    const std::string part = text.substr(pos, end - pos);
    if (part.empty() || part.size() > 12 || part.find_first_not_of("0123456789") != std::string::npos) return false;
    dims.push_back(std::stoll(part));
    pos = end + 1;
  }
  return !dims.empty();
}

int fail(const kiln::Status& status) {
  std::fprintf(stderr, "api_example: %s\n", status.toString().c_str());
  return 1;
}

void fill(kiln::Tensor& t) {
  for (int64_t i = 0; i < t.elementCount(); ++i) {
    switch (t.dtype()) {
      case kiln::DataType::kFloat32: t.dataAs<float>()[i] = 0.5f * std::sin(static_cast<float>(i)); break;
      case kiln::DataType::kInt64: t.dataAs<int64_t>()[i] = 1; break;
      case kiln::DataType::kInt32: t.dataAs<int32_t>()[i] = 1; break;
      case kiln::DataType::kBool: t.dataAs<uint8_t>()[i] = 1; break;
      default: break;  // other types stay zero
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc % 2 != 0) {
    std::fprintf(stderr, "usage: %s model.onnx [input_name AxBxC]...\n", argv[0]);
    return 2;
  }
  std::map<std::string, kiln::Dims> shapes;
  for (int i = 2; i + 1 < argc; i += 2) {
    kiln::Dims dims;
    if (!parseDims(argv[i + 1], dims)) {
      std::fprintf(stderr, "api_example: '%s' is not a shape like 4x3x224x224\n", argv[i + 1]);
      return 2;
    }
    shapes[argv[i]] = dims;
  }

  // 1. Parse: every unsupported or invalid node is reported at once.
  auto network = kiln::parseOnnxFile(argv[1]);
  if (!network) return fail(network.status());

  // 2. Configure: one profile covering the requested shapes; FP32 only (TF32 off) on the CPU backend.
  kiln::BuilderConfig config;
  config.device = kiln::DeviceKind::kCpu;
  config.disallow(kiln::Precision::kTF32);
  kiln::OptimizationProfile profile;
  for (const kiln::TensorDesc& in : network->inputs()) {
    auto it = shapes.find(in.name);
    if (it == shapes.end()) continue;
    kiln::Dims min = it->second;
    for (size_t d = 0; d < min.size() && d < in.dims.size(); ++d)
      if (in.dims[d] == kiln::kDynamicDim) min[d] = 1;
    profile.inputs.push_back({in.name, min, it->second, it->second});
  }
  config.addProfile(profile);

  // 3. Build and write the engine file.
  auto plan = kiln::buildEngine(*network, config);
  if (!plan) return fail(plan.status());
  const std::string enginePath = "api_example.kiln";
  if (kiln::Status s = kiln::writeFile(enginePath, *plan); !s.isOk()) return fail(s);
  std::printf("wrote %s (%zu bytes)\n", enginePath.c_str(), plan->size());

  // 4. Load it back (verified) and make a context for profile 0.
  auto engine = kiln::Engine::load(enginePath);
  if (!engine) return fail(engine.status());
  auto context = (*engine)->createContext(0);
  if (!context) return fail(context.status());

  // 5. Inputs: the given shape, or the declared one for static inputs.
  std::map<std::string, kiln::Tensor> inputs;
  for (const kiln::TensorDesc& in : (*engine)->inputs()) {
    auto it = shapes.find(in.name);
    const kiln::Dims dims = it != shapes.end() ? it->second : in.dims;
    if (kiln::Status s = (*context)->setInputShape(in.name, dims); !s.isOk()) return fail(s);
    auto tensor = kiln::Tensor::allocate(in.dtype, dims);
    if (!tensor) return fail(tensor.status());
    fill(*tensor);
    inputs.emplace(in.name, *tensor);
  }

  // 6. Run and print each output's shape and first values.
  auto outputs = (*context)->infer(inputs);
  if (!outputs) return fail(outputs.status());
  for (const auto& [name, tensor] : *outputs) {
    std::printf("output '%s' %s [%s]:", name.c_str(), kiln::dataTypeName(tensor.dtype()).c_str(),
                kiln::dimsToString(tensor.dims()).c_str());
    if (tensor.dtype() == kiln::DataType::kFloat32)
      for (int64_t i = 0; i < std::min<int64_t>(tensor.elementCount(), 6); ++i)
        std::printf(" %.6g", tensor.dataAs<float>()[i]);
    std::printf("\n");
  }
  return 0;
}
