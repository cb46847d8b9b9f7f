/**
 * The conformance suite tests itself (`runMutantConformance` in @soo/core/testing) on tfjs-wasm, ten times
 * faster than tfjs-cpu on these tiny models: every mutant (a wrapper breaking one rule of the contract) must
 * fail it, at float32 budgets and again with its outputs rounded to bf16 at bf16 budgets, and the correct
 * backend with every output rounded to bf16 must pass at the bf16 budgets. One fixture and one config file
 * keep it quick; SOO_CONFORMANCE_MUTANT_TABLE=1 prints which checks caught which mutant.
 */
import { afterAll } from 'vitest';
import { MUTANTS, mutantResults, runMutantConformance } from '@soo/core/testing';
import { createTfjsWasmBackend } from './index.js';

runMutantConformance('tfjs-wasm', createTfjsWasmBackend, {
  fixtures: ['llama'],
  configFiles: ['config.json'],
  bf16Mutants: true,
});

afterAll(() => {
  if (process.env.SOO_CONFORMANCE_MUTANT_TABLE !== '1') return;
  const caught = (id: string): string => {
    const r = mutantResults.get(id);
    return r ? [...new Set(r.failed.map((f) => f.check))].join(', ') : '(not run)';
  };
  console.log('| mutant | breaks | caught at float32 by | caught at bf16 by |');
  for (const m of MUTANTS)
    console.log(`| ${m.id} | ${m.breaks} | ${caught(m.id)} | ${caught(`${m.id}@bf16`)} |`);
  const b = mutantResults.get('bf16-outputs');
  if (b)
    console.log(
      `bf16-outputs: ${b.failed.length === 0 ? 'passes' : 'FAILS'} (${b.passed} checks, ${(b.ms / 1000).toFixed(1)} s)`,
    );
});
