/**
 * The core conformance suite (every fixture, both config formats) on both tfjs backends.
 */
import { runBackendConformanceV1 as runBackendConformance } from '@soo/core/testing';
import { createTfjsCpuBackend, createTfjsWasmBackend } from './index.js';

runBackendConformance('tfjs-cpu', createTfjsCpuBackend);
runBackendConformance('tfjs-wasm', createTfjsWasmBackend);
