// The N-API class that exposes the native engine to JavaScript (`NativeEngine`).
// addon.cpp's module Init calls InitEngine to register it on the exports object.
#pragma once
#include <napi.h>

Napi::Object InitEngine(Napi::Env env, Napi::Object exports);
