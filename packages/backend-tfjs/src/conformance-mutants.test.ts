/**
 * The conformance suite tests itself on tfjs-cpu (`runMutantConformance` in @soo/core/testing): every
 * mutant (a wrapper breaking one rule of the contract) must fail it, and a wrapper rounding every output to
 * bf16 must pass at the bf16 budgets. One fixture and one config file keep it quick; the table of which
 * checks caught which mutant is printed with SOO_CONFORMANCE_MUTANT_TABLE=1.
 */
import { afterAll } from 'vitest';
import { MUTANTS, mutantResults, runMutantConformance } from '@soo/core/testing';
import { createTfjsCpuBackend } from './index.js';

runMutantConformance('tfjs-cpu', createTfjsCpuBackend, { fixtures: ['llama'], configFiles: ['config.json'] });

afterAll(() => {
  if (process.env.SOO_CONFORMANCE_MUTANT_TABLE !== '1') return;
  for (const m of MUTANTS) {
    const r = mutantResults.get(m.id);
    const caught = r ? [...new Set(r.failed.map((f) => f.check))].join(', ') : '(not run)';
    console.log(`| ${m.id} | ${m.breaks} | ${caught} | ${r ? (r.ms / 1000).toFixed(1) : '-'} s |`);
  }
  const b = mutantResults.get('bf16-outputs');
  if (b) console.log(`| bf16-outputs | passes: ${b.failed.length === 0} | ${b.passed} checks | ${(b.ms / 1000).toFixed(1)} s |`);
});
