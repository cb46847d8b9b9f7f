// The C interface of libsoo_cuda.so, the CUDA device (compiled by nvcc, cuda/*.cu), as the addon sees it
// (cuda_device_loader.cpp, compiled by the host compiler). The addon never links CUDA: it dlopen()s this
// library only when a cuda engine is asked for, so it builds and loads on machines without CUDA.
//
// soo_cuda_create_device returns a soo::Device* (device.h) made inside the library. Both sides compile
// device.h with the same host compiler ABI (nvcc hands host code to g++), and the library is never
// unloaded, so the object's vtable stays valid for the life of the process.
#pragma once
#include <cstddef>

#define SOO_CUDA_ABI_VERSION 1

extern "C" {

struct SooCudaInfo {
  int device_count;
  int device;            // the device used (CUDA_VISIBLE_DEVICES / SOO_CUDA_DEVICE pick it)
  char name[256];
  int cc_major, cc_minor;
  size_t total_bytes;
  int driver_version;    // cudaDriverGetVersion, e.g. 13000
  int runtime_version;   // the static cudart the library was built with
  char cublaslt[256];    // the cuBLASLt file loaded, e.g. libcublasLt.so.13
};

/** SOO_CUDA_ABI_VERSION of the library. */
typedef int (*SooCudaAbiVersionFn)(void);
/** 0 when a CUDA device can be made here (info filled); else 1 and `reason` says what is missing. */
typedef int (*SooCudaProbeFn)(SooCudaInfo* info, char* reason, size_t reason_len);
/** A new soo::Device (mode 0 fp32 GEMMs, 1 bf16 GEMMs with fp32 accumulation), or null with `reason`. */
typedef void* (*SooCudaCreateDeviceFn)(int mode, char* reason, size_t reason_len);

int soo_cuda_abi_version(void);
int soo_cuda_probe(SooCudaInfo* info, char* reason, size_t reason_len);
void* soo_cuda_create_device(int mode, char* reason, size_t reason_len);
}
