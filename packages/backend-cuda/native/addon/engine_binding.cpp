// Placeholder until the engine's bindings land (the engine's own engine_binding.cpp replaces this file):
// the addon builds and loads with no engine functions.
#include "engine_binding.h"

Napi::Object InitEngine(Napi::Env /*env*/, Napi::Object exports) { return exports; }
