// Shared command-line interface, .npy I/O and small helpers for the vggdeploy C++ runners.
//
// Both runners (vgg_trt, vgg_aoti) take the same arguments (json.cpp and sha256.cpp hold the sidecar helpers):
//   RUNNER MODEL --input X.npy|X.raw [--shape N,C,H,W] [--output Y.npy|Y.txt|-] [--batch B]
//          [--warmup K] [--iters K] [--device cpu|cuda] [--sidecar PATH] [--quiet]
// The input is already preprocessed float32 N x C x H x W (see cpp/README.md for the steps).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace vggdeploy {

// A user-facing failure: printed as "error: ..." (+ "hint: ...") with the exit code.
struct CliError : std::runtime_error {
  int exit_code;
  std::string hint;
  CliError(const std::string& msg, int code = 2, std::string hint_ = "")
      : std::runtime_error(msg), exit_code(code), hint(std::move(hint_)) {}
};

// Exit codes match vggdeploy.errors: 2 usage, 4 artifact, 6 backend unavailable, 8 output.
constexpr int kUsage = 2;
constexpr int kArtifact = 4;
constexpr int kBackend = 6;
constexpr int kOutput = 8;

struct Options {
  std::string program;
  std::string model;
  std::string input;
  std::string output = "-";      // "-" = text on stdout
  std::vector<int64_t> shape;     // required for raw input
  int64_t batch = 0;              // 0 = runner's choice (whole input, or the engine profile max)
  int warmup = 0;
  int iters = 1;
  std::string device;            // vgg_aoti: cpu or cuda; empty = the device the .pt2 was built for
  std::string sidecar;            // vgg_trt: default MODEL + ".json"
  bool quiet = false;
};

// Parses argv; prints usage and exits 0 on --help; throws CliError on bad arguments.
Options parse_args(int argc, char** argv, const std::string& description);

// A dense float32 array in C order.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
  int64_t numel() const;
};

// .npy (version 1.0/2.0/3.0; '<f4', C order) reader and writer, with header validation.
Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const Tensor& t);
// Raw little-endian float32 with a shape given on the command line.
Tensor read_raw(const std::string& path, const std::vector<int64_t>& shape);
// The input named by the options (.npy by extension, anything else raw), checked to be 4-D.
Tensor load_input(const Options& opt);
// Writes logits as .npy (by extension) or text ("-" = stdout): one line per image,
// "argmax logit0 logit1 ...".
void write_output(const Options& opt, const Tensor& logits);

// Runs `infer(first_row, rows, out_logits)` over the input in chunks of `batch` rows and
// returns N x num_classes logits. `infer` returns the number of classes it wrote per row.
using InferFn = std::function<int64_t(const float*, int64_t, std::vector<float>&)>;
Tensor run_batches(const Tensor& input, int64_t batch, const InferFn& infer);

// Shared main(): parse, load, run (warm-up + timed iterations), write. `open` builds the
// runner from the options and returns its chunk function and preferred max batch (0 = any).
struct RunnerHandle {
  InferFn infer;
  int64_t max_batch = 0;
  int64_t min_batch = 1;
};
int runner_main(int argc, char** argv, const std::string& description,
                const std::function<RunnerHandle(const Options&, const Tensor&)>& open);

// ---- small utilities used by vgg_trt ---------------------------------------------------------
std::string read_file(const std::string& path);
std::string sha256_hex(const std::string& bytes);

// Minimal JSON value + parser (objects, arrays, strings, numbers, true/false/null): enough to
// read the engine sidecar without a third-party dependency.
struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::map<std::string, Json> obj;
  // Dotted path lookup ("engine.sha256"); nullptr when absent.
  const Json* find(const std::string& dotted) const;
};
Json parse_json(const std::string& text, const std::string& source);

}  // namespace vggdeploy
