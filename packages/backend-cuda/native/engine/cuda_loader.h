// Reaching the CUDA device from the addon: libsoo_cuda.so (built by nvcc, cuda/) is dlopen()ed here, at
// run time, so the addon itself never links CUDA and loads on any machine.
#pragma once
#include <memory>
#include <string>

#include "cuda/cuda_abi.h"
#include "device.h"

namespace soo {

struct CudaProbe {
  bool ok = false;
  /** Why the cuda device cannot run here (empty when ok): no library, no driver, no GPU, no cuBLASLt. */
  std::string reason;
  SooCudaInfo info{};
};

/** Load `library` (once per process) and ask it whether a device can be made here. Never throws. */
CudaProbe probe_cuda(const std::string& library);

/** A CUDA device from `library`; mode 0 fp32 GEMMs, 1 bf16 GEMMs. Throws EngineError with the reason. */
std::unique_ptr<Device> make_cuda_device(const std::string& library, int mode);

}  // namespace soo
