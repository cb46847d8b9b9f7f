// dlopen() of libsoo_cuda.so and its three C entry points (cuda/cuda_abi.h). The library is kept loaded
// for the life of the process: the devices it makes point into it.
#include "cuda_loader.h"

#include <dlfcn.h>

#include <map>
#include <mutex>

#include "errors.h"

namespace soo {
namespace {

struct Library {
  void* handle = nullptr;
  SooCudaProbeFn probe = nullptr;
  SooCudaCreateDeviceFn create = nullptr;
  std::string error;
};

const Library& open_library(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, Library> opened;
  std::lock_guard<std::mutex> lock(mu);
  auto it = opened.find(path);
  if (it != opened.end()) return it->second;
  Library& lib = opened[path];
  lib.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib.handle) {
    const char* e = dlerror();
    lib.error = "cannot load " + path + " (" + (e ? e : "unknown error") + ")";
    return lib;
  }
  auto abi = reinterpret_cast<SooCudaAbiVersionFn>(dlsym(lib.handle, "soo_cuda_abi_version"));
  lib.probe = reinterpret_cast<SooCudaProbeFn>(dlsym(lib.handle, "soo_cuda_probe"));
  lib.create = reinterpret_cast<SooCudaCreateDeviceFn>(dlsym(lib.handle, "soo_cuda_create_device"));
  if (!abi || !lib.probe || !lib.create) {
    lib.error = path + " is not a soo CUDA library (missing soo_cuda_* entry points): rebuild it";
  } else if (abi() != SOO_CUDA_ABI_VERSION) {
    lib.error = path + " has ABI " + std::to_string(abi()) + ", this addon expects " +
                std::to_string(SOO_CUDA_ABI_VERSION) + ": rebuild with npm run build -w @soo/backend-cuda";
  }
  return lib;
}

}  // namespace

CudaProbe probe_cuda(const std::string& library) {
  CudaProbe out;
  const Library& lib = open_library(library);
  if (!lib.error.empty()) {
    out.reason = lib.error;
    return out;
  }
  char reason[1024] = {0};
  out.ok = lib.probe(&out.info, reason, sizeof(reason)) == 0;
  if (!out.ok) out.reason = reason[0] ? reason : "the CUDA library refused without a reason";
  return out;
}

std::unique_ptr<Device> make_cuda_device(const std::string& library, int mode) {
  const Library& lib = open_library(library);
  if (!lib.error.empty()) throw EngineError("cuda device: " + lib.error);
  char reason[1024] = {0};
  void* d = lib.create(mode, reason, sizeof(reason));
  if (!d) throw EngineError(std::string("cuda device: ") + (reason[0] ? reason : "creation failed"));
  return std::unique_ptr<Device>(static_cast<Device*>(d));
}

}  // namespace soo
