// vgg_trt: run a TensorRT plan built by `vggdeploy build-engine` with the TensorRT C++ runtime
// (10.x / 11.x API: name-based I/O, setInputShape, setTensorAddress, enqueueV3).
//
// Before deserializing anything it reads the sidecar NAME.engine.json (the keys of
// vggdeploy/backends/tensorrt/sidecar.schema.json), checks the plan's size and sha256 against it,
// then whether this TensorRT and GPU may load the plan (NVIDIA's engine-compatibility rules, the
// same policy and case table as the Python loader: cpp/sidecar.cpp), so a stale or foreign plan
// fails with a clear message instead of deep inside TensorRT.
#include <NvInfer.h>
#include <NvInferVersion.h>
#include <cuda_runtime_api.h>

#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common.hpp"

using vggdeploy::CliError;

namespace {

class Logger : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kWARNING) std::cerr << "[TensorRT] " << msg << "\n";
  }
};

void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw CliError(std::string(what) + " failed: " + cudaGetErrorString(err), vggdeploy::kBackend,
                   "check that a CUDA GPU and driver are available (nvidia-smi)");
}

struct CudaDeleter {
  void operator()(void* p) const { if (p) cudaFree(p); }
};
using DevicePtr = std::unique_ptr<void, CudaDeleter>;

DevicePtr device_alloc(size_t bytes) {
  void* p = nullptr;
  check_cuda(cudaMalloc(&p, bytes), "cudaMalloc");
  return DevicePtr(p);
}

// The TensorRT library actually loaded (not the headers compiled against) and the current GPU.
vggdeploy::Machine this_machine() {
  vggdeploy::Machine m;
  const int32_t v = getInferLibVersion();  // MAJOR * 10000 + MINOR * 100 + PATCH (10.x, 11.x)
  m.trt_version = std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." +
                  std::to_string(v % 100);
  int device = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  m.gpu = prop.name;
  m.compute_capability = {prop.major, prop.minor};
  return m;
}

// The element count of an engine shape, overflow-checked; a negative (dynamic) dimension is refused.
int64_t volume(const nvinfer1::Dims& d, int from = 0) {
  std::vector<int64_t> dims;
  for (int i = from; i < d.nbDims; ++i) dims.push_back(d.d[i]);
  return vggdeploy::checked_numel(dims, "engine tensor shape", vggdeploy::kArtifact);
}

struct TrtState {
  Logger logger;
  std::unique_ptr<nvinfer1::IRuntime> runtime;
  std::unique_ptr<nvinfer1::ICudaEngine> engine;
  std::unique_ptr<nvinfer1::IExecutionContext> context;
  std::string input_name, output_name;
  nvinfer1::Dims max_in{};
  int64_t classes = 0;
  DevicePtr d_in, d_out;
  cudaStream_t stream = nullptr;
  ~TrtState() {
    if (stream) cudaStreamDestroy(stream);
    context.reset();  // destroy in reverse order of creation
    engine.reset();
    runtime.reset();
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto state = std::make_unique<TrtState>();
  return vggdeploy::runner_main(
      argc, argv, "vgg_trt: run a vggdeploy TensorRT engine (plan + sidecar JSON)",
      [&](const vggdeploy::Options& opt, const vggdeploy::Tensor& input) {
        TrtState& s = *state;
        std::string plan;
        try {
          plan = vggdeploy::read_file(opt.model);
        } catch (const CliError&) {
          throw CliError("engine not found: '" + opt.model + "'", vggdeploy::kArtifact,
                         "build it with `vggdeploy build-engine RUN/model.onnx -o NAME.engine`");
        }
        const vggdeploy::EngineSidecar sidecar =
            vggdeploy::read_sidecar(opt.sidecar.empty() ? opt.model + ".json" : opt.sidecar);
        vggdeploy::check_plan_integrity(opt.model, sidecar, plan);

        int devices = 0;
        if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
          throw CliError("no CUDA GPU is available", vggdeploy::kBackend,
                         "vgg_trt needs an NVIDIA GPU and driver; use vgg_aoti on CPU machines");
        vggdeploy::check_compatible(opt.model, sidecar, this_machine());
        s.runtime.reset(nvinfer1::createInferRuntime(s.logger));
        if (!s.runtime) throw CliError("cannot create the TensorRT runtime", vggdeploy::kBackend);
        // A version-compatible plan carries the lean runtime (host code) that runs it; TensorRT
        // refuses to deserialize it unless the application allows that (as the Python loader does).
        if (sidecar.version_compatible) s.runtime->setEngineHostCodeAllowed(true);
        s.engine.reset(s.runtime->deserializeCudaEngine(plan.data(), plan.size()));
        if (!s.engine)
          throw CliError("TensorRT could not deserialize '" + opt.model + "' (see the messages above)",
                         vggdeploy::kArtifact, "rebuild the engine on this GPU with this TensorRT");
        for (int32_t i = 0; i < s.engine->getNbIOTensors(); ++i) {
          const char* name = s.engine->getIOTensorName(i);
          const bool is_input = s.engine->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT;
          (is_input ? s.input_name : s.output_name) = name;
          if (s.engine->getTensorDataType(name) != nvinfer1::DataType::kFLOAT)
            throw CliError(std::string("tensor '") + name + "' is not float32; vgg_trt feeds and reads "
                           "float32 I/O", vggdeploy::kArtifact,
                           "export the engine's ONNX with float32 inputs/outputs (the fp16/int8 "
                           "variants from `vggdeploy export` keep float32 I/O)");
        }
        if (s.input_name.empty() || s.output_name.empty() || s.engine->getNbIOTensors() != 2)
          throw CliError("'" + opt.model + "' must have exactly one input and one output",
                         vggdeploy::kArtifact);
        const char* in = s.input_name.c_str();
        const nvinfer1::Dims min_in = s.engine->getProfileShape(in, 0, nvinfer1::OptProfileSelector::kMIN);
        s.max_in = s.engine->getProfileShape(in, 0, nvinfer1::OptProfileSelector::kMAX);
        if (s.max_in.nbDims != 4)
          throw CliError("engine input '" + s.input_name + "' is not N x C x H x W", vggdeploy::kArtifact);
        for (int i = 1; i < 4; ++i)
          if (s.max_in.d[i] != input.shape[i]) {
            std::ostringstream msg;
            msg << "input has shape (N, " << input.shape[1] << ", " << input.shape[2] << ", "
                << input.shape[3] << "), the engine takes (N, " << s.max_in.d[1] << ", "
                << s.max_in.d[2] << ", " << s.max_in.d[3] << ")";
            throw CliError(msg.str(), vggdeploy::kUsage, "preprocess images for this model (cpp/README.md)");
          }
        s.context.reset(s.engine->createExecutionContext());
        if (!s.context) throw CliError("cannot create a TensorRT execution context", vggdeploy::kBackend);
        check_cuda(cudaStreamCreate(&s.stream), "cudaStreamCreate");
        // Size the output by asking TensorRT for the output shape at the largest batch.
        if (!s.context->setInputShape(in, s.max_in))
          throw CliError("TensorRT rejected the profile's maximum input shape", vggdeploy::kArtifact);
        const nvinfer1::Dims out_max = s.context->getTensorShape(s.output_name.c_str());
        if (out_max.nbDims != 2)
          throw CliError("engine output '" + s.output_name + "' is not N x classes", vggdeploy::kArtifact);
        s.classes = out_max.d[1];
        s.d_in = device_alloc(vggdeploy::checked_float_bytes(volume(s.max_in), "engine input", vggdeploy::kArtifact));
        s.d_out = device_alloc(vggdeploy::checked_float_bytes(volume(out_max), "engine output", vggdeploy::kArtifact));
        if (!s.context->setTensorAddress(in, s.d_in.get()) ||
            !s.context->setTensorAddress(s.output_name.c_str(), s.d_out.get()))
          throw CliError("TensorRT rejected the device buffers", vggdeploy::kBackend);

        vggdeploy::RunnerHandle handle;
        handle.max_batch = s.max_in.d[0];
        handle.min_batch = min_in.d[0];
        handle.infer = [&s](const float* rows, int64_t n, std::vector<float>& out) {
          nvinfer1::Dims shape = s.max_in;
          shape.d[0] = n;  // the batch dimension; the profile bounds were checked by runner_main
          if (!s.context->setInputShape(s.input_name.c_str(), shape))
            throw CliError("TensorRT rejected batch " + std::to_string(n), vggdeploy::kUsage);
          const size_t in_bytes = vggdeploy::checked_float_bytes(volume(shape), "engine input");
          out.resize(static_cast<size_t>(vggdeploy::checked_numel({n, s.classes}, "engine output")));
          check_cuda(cudaMemcpyAsync(s.d_in.get(), rows, in_bytes, cudaMemcpyHostToDevice, s.stream),
                     "copy to device");
          if (!s.context->enqueueV3(s.stream))
            throw CliError("TensorRT enqueueV3 failed (see the messages above)", vggdeploy::kBackend);
          check_cuda(cudaMemcpyAsync(out.data(), s.d_out.get(), out.size() * sizeof(float),
                                     cudaMemcpyDeviceToHost, s.stream),
                     "copy to host");
          check_cuda(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize");
          return s.classes;
        };
        return handle;
      });
}
