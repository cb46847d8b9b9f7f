#!/usr/bin/env node
// Measure environment steps/s, rollout steps/s (policies + noise + buffer) and MADDPG update rounds/s.
// Build first (`npx tsup` in packages/rl), then: node bench/profile.mjs [secondsPerMeasurement]
// Prints one JSON object (with node version, CPU model, date, and load average for context).
import { loadavg } from 'node:os';
import { rlProfile } from '../dist/index.js';

const seconds = Number(process.argv[2] ?? 3);
const result = await rlProfile({
  seconds,
  batchSizes: [1024, 256, 64],
  onProgress: (p) => process.stderr.write(`profile ${p.done}/${p.total} ${p.detail?.measuring ?? ''}\n`),
});
console.log(
  JSON.stringify(
    { command: `node bench/profile.mjs ${seconds}`, loadavg1m: loadavg()[0], ...result },
    null,
    2,
  ),
);
