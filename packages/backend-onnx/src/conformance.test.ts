/**
 * The core conformance suite v2 (every fixture, both config formats) on the onnx backend; the training
 * checks are skipped by capability (the backend says `train: false`).
 */
import { runBackendConformance } from '@soo/core/testing';
import { createOnnxBackend } from './index.js';

runBackendConformance('onnx', () => createOnnxBackend({ threads: 1 }));
