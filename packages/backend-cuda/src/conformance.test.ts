/**
 * The core conformance suite (every oracle fixture, both config formats) on `native-cpu`. Reported as
 * skipped, with the reason, where the addon is not built.
 */
import { describe, it } from 'vitest';
import { runBackendConformance } from '@soo/core/testing';
import { createNativeCpuBackend } from './native-backend.js';
import { nativeAvailability } from './native-loader.js';

const native = nativeAvailability();
if (native.available) {
  runBackendConformance('native-cpu', () => createNativeCpuBackend());
} else {
  describe.skip(`native-cpu conformance (${native.reason})`, () => {
    it('needs the soo_native addon', () => {});
  });
}
