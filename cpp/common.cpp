#include "common.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace vggdeploy {

namespace {

const char* kUsageText =
    "usage: %s MODEL --input X.npy|X.raw [--shape N,C,H,W] [--output Y.npy|Y.txt|-]\n"
    "       [--batch B] [--warmup K] [--iters K] [--device cpu|cuda] [--sidecar PATH] [--quiet]\n"
    "\n"
    "  MODEL          the artifact to run\n"
    "  --input PATH   preprocessed float32 N x C x H x W: .npy (C order, '<f4') or raw float32\n"
    "  --shape        N,C,H,W of a raw input file\n"
    "  --output PATH  logits: .npy, or text ('-' = stdout, default): 'argmax logit0 logit1 ...'\n"
    "  --batch B      rows per inference call (default: all, or the engine's profile maximum)\n"
    "  --warmup K     untimed runs before timing (default 0)\n"
    "  --iters K      timed runs over the whole input (default 1); mean time goes to stderr\n"
    "  --device       cpu or cuda (vgg_aoti; the .pt2 must be compiled for that device)\n"
    "  --sidecar      engine sidecar JSON (vgg_trt; default MODEL.json)\n";

std::vector<int64_t> parse_shape(const std::string& v) {
  std::vector<int64_t> dims;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) dims.push_back(parse_int("--shape", item, 1, kMaxOption));
  if (dims.size() != 4) throw CliError("--shape expects N,C,H,W (4 positive integers), got '" + v + "'");
  return dims;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

}  // namespace

int64_t parse_int(const std::string& what, const std::string& text, int64_t min, int64_t max) {
  int64_t x = 0;
  const char* first = text.data();
  const char* last = first + text.size();
  const auto [end, err] = std::from_chars(first, last, x, 10);
  if (text.empty() || err != std::errc() || end != last || x < min || x > max)
    throw CliError(what + " expects an integer in [" + std::to_string(min) + ", " +
                   std::to_string(max) + "], got '" + text + "'");
  return x;
}

int64_t checked_numel(const std::vector<int64_t>& dims, const std::string& what, int code) {
  int64_t n = 1;
  for (const int64_t d : dims) {
    if (d < 0) throw CliError(what + " has a negative dimension " + shape_str(dims), code);
    if (__builtin_mul_overflow(n, d, &n))
      throw CliError(what + " " + shape_str(dims) + " has more elements than fit in 64 bits", code);
  }
  return n;
}

size_t checked_float_bytes(int64_t numel, const std::string& what, int code) {
  size_t bytes = 0;
  if (numel < 0 || __builtin_mul_overflow(static_cast<uint64_t>(numel), sizeof(float), &bytes))
    throw CliError(what + ": " + std::to_string(numel) + " float32 values do not fit in memory", code);
  return bytes;
}

Options parse_args(int argc, char** argv, const std::string& description) {
  Options opt;
  opt.program = argc > 0 ? argv[0] : "runner";
  std::vector<std::string> args(argv + 1, argv + argc);
  auto value = [&](size_t& i) -> std::string {
    if (i + 1 >= args.size()) throw CliError(args[i] + " needs a value");
    return args[++i];
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::printf("%s\n\n", description.c_str());
      std::printf(kUsageText, opt.program.c_str());
      std::exit(0);
    } else if (a == "--input" || a == "-i") {
      opt.input = value(i);
    } else if (a == "--output" || a == "-o") {
      opt.output = value(i);
    } else if (a == "--shape") {
      opt.shape = parse_shape(value(i));
    } else if (a == "--batch") {
      opt.batch = parse_int(a, value(i), 1, kMaxOption);
    } else if (a == "--warmup") {
      opt.warmup = parse_int(a, value(i), 0, kMaxOption);
    } else if (a == "--iters") {
      opt.iters = parse_int(a, value(i), 1, kMaxOption);
    } else if (a == "--device") {
      opt.device = value(i);
      if (opt.device != "cpu" && opt.device != "cuda")
        throw CliError("--device must be cpu or cuda, got '" + opt.device + "'");
    } else if (a == "--sidecar") {
      opt.sidecar = value(i);
    } else if (a == "--quiet" || a == "-q") {
      opt.quiet = true;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      throw CliError("unknown option '" + a + "'", kUsage, "see --help");
    } else if (opt.model.empty()) {
      opt.model = a;
    } else {
      throw CliError("unexpected argument '" + a + "'", kUsage, "see --help");
    }
  }
  if (opt.model.empty()) throw CliError("missing MODEL argument", kUsage, "see --help");
  if (opt.input.empty()) throw CliError("missing --input", kUsage, "see --help");
  return opt;
}

int64_t Tensor::numel() const { return checked_numel(shape, "tensor shape"); }

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CliError("cannot open '" + path + "'", kArtifact);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// ---- .npy ------------------------------------------------------------------------------------
// Format: magic "\x93NUMPY", major, minor, header length (u16 for v1, u32 for v2/v3), then a
// Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, C, H, W), }.
Tensor read_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  auto bad = [&](const std::string& why) {
    return CliError("'" + path + "' is not a float32 C-order .npy file: " + why, kUsage,
                    "save it with numpy.save(path, array.astype(numpy.float32))");
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw bad("bad magic");
  const auto major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw bad("truncated header");
    header_len = 0;
    for (int i = 3; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + i]);
    offset = 12;
  } else {
    throw bad("unsupported version " + std::to_string(major));
  }
  if (offset + header_len > bytes.size()) throw bad("truncated header");
  const std::string header = bytes.substr(offset, header_len);
  auto field = [&](const std::string& key) -> std::string {
    auto k = header.find("'" + key + "'");
    if (k == std::string::npos) throw bad("header has no '" + key + "'");
    auto colon = header.find(':', k);
    if (colon == std::string::npos) throw bad("malformed header");
    return header.substr(colon + 1);
  };
  std::string descr = field("descr");
  descr = descr.substr(descr.find('\'') + 1);
  descr = descr.substr(0, descr.find('\''));
  if (descr != "<f4" && descr != "=f4" && descr != "|f4")
    throw bad("dtype is '" + descr + "', need '<f4' (little-endian float32)");
  const std::string fortran = field("fortran_order");
  if (fortran.find("False") != 0 && fortran.find(" False") != 0) throw bad("Fortran order is not supported");
  std::string shape_text = field("shape");
  auto open = shape_text.find('('), close = shape_text.find(')');
  if (open == std::string::npos || close == std::string::npos) throw bad("malformed shape");
  shape_text = shape_text.substr(open + 1, close - open - 1);
  Tensor t;
  std::stringstream ss(shape_text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(std::remove_if(item.begin(), item.end(), ::isspace), item.end());
    if (item.empty()) continue;
    try {
      t.shape.push_back(parse_int("shape", item, 0, std::numeric_limits<int64_t>::max()));
    } catch (const CliError&) {
      throw bad("shape entry '" + item + "' is not a dimension (an integer >= 0)");
    }
  }
  const size_t data_offset = offset + header_len;
  const std::string what = "'" + path + "': shape";
  const size_t need = checked_float_bytes(checked_numel(t.shape, what), what);
  if (bytes.size() - data_offset != need)
    throw bad("data has " + std::to_string(bytes.size() - data_offset) + " bytes, shape " +
              shape_str(t.shape) + " needs " + std::to_string(need));
  t.data.resize(need / sizeof(float));  // need == the file's bytes: never more than was read
  std::memcpy(t.data.data(), bytes.data() + data_offset, need);
  return t;
}

void write_npy(const std::string& path, const Tensor& t) {
  std::string shape = "(";
  for (size_t i = 0; i < t.shape.size(); ++i) shape += std::to_string(t.shape[i]) + ", ";
  if (t.shape.size() > 1) shape.resize(shape.size() - 2);
  else if (t.shape.size() == 1) shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that magic + version + length + header is a multiple of 64 bytes, ending in '\n'.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>((header.size() >> 8) & 0xff));
  out += header;
  out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
  // Write next to the target, then rename: a reader never sees a half-written file.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw CliError("cannot write '" + path + "'", kOutput);
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
    if (!f) throw CliError("cannot write '" + path + "'", kOutput);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw CliError("cannot write '" + path + "'", kOutput);
  }
}

Tensor read_raw(const std::string& path, const std::vector<int64_t>& shape) {
  if (shape.empty())
    throw CliError("raw input '" + path + "' needs --shape N,C,H,W", kUsage,
                   "or pass a .npy file, which carries its shape");
  const std::string bytes = read_file(path);
  Tensor t;
  t.shape = shape;
  const size_t need = checked_float_bytes(checked_numel(shape, "--shape"), "--shape");
  if (bytes.size() != need)
    throw CliError("raw input '" + path + "' has " + std::to_string(bytes.size()) +
                   " bytes, --shape " + shape_str(shape) + " needs " + std::to_string(need));
  t.data.resize(need / sizeof(float));
  std::memcpy(t.data.data(), bytes.data(), need);
  return t;
}

Tensor load_input(const Options& opt) {
  Tensor t = ends_with(opt.input, ".npy") ? read_npy(opt.input) : read_raw(opt.input, opt.shape);
  if (t.shape.size() != 4 || std::any_of(t.shape.begin(), t.shape.end(), [](int64_t d) { return d < 1; }))
    throw CliError("input '" + opt.input + "' has shape " + shape_str(t.shape) +
                   ", need N x C x H x W, every dimension >= 1", kUsage,
                   "preprocess images first (vggdeploy.data.preprocess); see cpp/README.md");
  for (float v : t.data)
    if (!std::isfinite(v)) throw CliError("input '" + opt.input + "' contains NaN or Inf values");
  return t;
}

void write_output(const Options& opt, const Tensor& logits) {
  if (ends_with(opt.output, ".npy")) {
    write_npy(opt.output, logits);
    return;
  }
  std::ostringstream out;
  out << std::setprecision(9);
  const int64_t n = logits.shape[0], k = logits.shape[1];
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data.data() + i * k;
    out << (std::max_element(row, row + k) - row);
    for (int64_t j = 0; j < k; ++j) out << ' ' << row[j];
    out << '\n';
  }
  if (opt.output == "-") {
    std::cout << out.str();
  } else {
    const std::string tmp = opt.output + ".tmp";
    std::ofstream f(tmp, std::ios::trunc);
    if (!(f << out.str())) throw CliError("cannot write '" + opt.output + "'", kOutput);
    f.close();
    if (std::rename(tmp.c_str(), opt.output.c_str()) != 0)
      throw CliError("cannot write '" + opt.output + "'", kOutput);
  }
}

Tensor run_batches(const Tensor& input, int64_t batch, const InferFn& infer) {
  const int64_t n = input.shape[0];
  const int64_t row = input.numel() / n;
  if (batch <= 0) batch = n;
  Tensor logits;
  int64_t classes = -1;
  std::vector<float> chunk;
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t rows = std::min(batch, n - start);
    chunk.clear();
    const int64_t k = infer(input.data.data() + start * row, rows, chunk);
    if (classes < 0) classes = k;
    if (k != classes || static_cast<int64_t>(chunk.size()) != rows * k)
      throw CliError("runner returned " + std::to_string(chunk.size()) + " values for " +
                     std::to_string(rows) + " rows", 1);
    logits.data.insert(logits.data.end(), chunk.begin(), chunk.end());
  }
  logits.shape = {n, classes};
  return logits;
}

int runner_main(int argc, char** argv, const std::string& description,
                const std::function<RunnerHandle(const Options&, const Tensor&)>& open) {
  try {
    Options opt = parse_args(argc, argv, description);
    Tensor input = load_input(opt);
    RunnerHandle runner = open(opt, input);
    int64_t batch = opt.batch > 0 ? opt.batch : (runner.max_batch > 0 ? runner.max_batch : 0);
    if (runner.max_batch > 0 && batch > runner.max_batch)
      throw CliError("--batch " + std::to_string(batch) + " exceeds the model's maximum batch " +
                     std::to_string(runner.max_batch), kUsage,
                     "use a smaller --batch (rows are split into chunks automatically)");
    const int64_t n = input.shape[0];
    const int64_t last = batch > 0 ? (n % batch == 0 ? batch : n % batch) : n;
    if (last < runner.min_batch || (batch > 0 && batch < runner.min_batch))
      throw CliError("a chunk of " + std::to_string(std::min(last, batch > 0 ? batch : n)) +
                     " rows is below the model's minimum batch " +
                     std::to_string(runner.min_batch), kUsage);
    for (int64_t i = 0; i < opt.warmup; ++i) run_batches(input, batch, runner.infer);
    Tensor logits;
    double total_ms = 0;
    for (int64_t i = 0; i < opt.iters; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      logits = run_batches(input, batch, runner.infer);
      total_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    write_output(opt, logits);
    if (!opt.quiet)
      std::cerr << "ran " << n << " images in chunks of " << (batch > 0 ? batch : n) << ": "
                << std::fixed << std::setprecision(3) << total_ms / opt.iters
                << " ms per pass (mean of " << opt.iters << ")\n";
    return 0;
  } catch (const CliError& e) {
    std::cerr << "error: " << e.what() << "\n";
    if (!e.hint.empty()) std::cerr << "  hint: " << e.hint << "\n";
    return e.exit_code;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace vggdeploy
