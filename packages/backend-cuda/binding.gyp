# The soo_native addon (build/Release/soo_native.node): node-addon-api with C++ exceptions, C++17, -O3,
# linked to OpenBLAS. Build it with `npm run build:native` (or `npm run build`, which also runs tsup); the
# script checks the toolchain and OpenBLAS first and explains what is missing instead of failing.
#
# Machine-dependent values come from scripts/native-env.mjs, so this file and the build script agree:
#   sources   every native/engine/**/*.cpp and native/addon/*.cpp (add a .cpp file, rebuild: nothing to edit here)
#   include / ldflags   where OpenBLAS is (OPENBLAS_HOME, pkg-config, Debian/Fedora/Homebrew folders)
#   cpuflags  SIMD for our own code: AVX2+FMA+F16C on x86-64 CPUs that have them, else baseline; never
#             -march=native unless SOO_NATIVE_MARCH=native (a build folder can travel to another CPU).
#             OpenBLAS chooses its own kernels at run time either way.
#
# CUDA: the CUDA device is a separate shared library, libsoo_cuda.so, compiled by nvcc from
# native/engine/cuda/*.cu in its own step (scripts/build-cuda.mjs, run by build-native.mjs; nvcc is not a
# gyp toolchain) and dlopen()ed by native/engine/cuda_loader.cpp at run time (hence -ldl), so this addon
# builds and loads on machines without CUDA.
{
  'targets': [
    {
      'target_name': 'soo_native',
      'sources': ['<!@(node scripts/native-env.mjs sources)'],
      'include_dirs': ['native', 'native/engine', '<!@(node scripts/native-env.mjs include)'],
      'dependencies': ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      'defines': [
        'NAPI_VERSION=8',
        'NODE_ADDON_API_DISABLE_DEPRECATED',
        'SOO_NATIVE_VERSION=<!(node -p "require(\'./package.json\').version")',
        'SOO_NATIVE_SIMD=<!(node scripts/native-env.mjs simd)',
      ],
      'cflags_cc!': ['-fno-rtti', '-std=gnu++17'],
      'cflags_cc': ['-std=c++17', '-Wall', '-Wextra', '-Wno-unused-parameter', '<!@(node scripts/native-env.mjs cpuflags)'],
      'libraries': ['<!@(node scripts/native-env.mjs ldflags)', '-ldl'],
      'configurations': {
        'Release': { 'cflags_cc': ['-O3'] },
        'Debug': { 'defines': ['SOO_NATIVE_DEBUG'] },
      },
      'xcode_settings': {
        'GCC_ENABLE_CPP_RTTI': 'YES',
        'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
        'MACOSX_DEPLOYMENT_TARGET': '11.0',
        'OTHER_CPLUSPLUSFLAGS': ['-O3', '<!@(node scripts/native-env.mjs cpuflags)'],
      },
    },
  ],
}
