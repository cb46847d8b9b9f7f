/**
 * The core conformance suite v2 (every fixture, both config formats) on both tfjs backends.
 */
import { runBackendConformance } from '@soo/core/testing';
import { createTfjsCpuBackend, createTfjsWasmBackend } from './index.js';

runBackendConformance('tfjs-cpu', createTfjsCpuBackend);
runBackendConformance('tfjs-wasm', createTfjsWasmBackend);
