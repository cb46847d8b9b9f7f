/**
 * One fine-tuning arm (K fine-tuned blues) judged against the two baselines on the blue protocol:
 * per (fine-tune seed, env seed) pair, the distance to the honest and to the deceptive blue (each the
 * mean over the common reds), the share of pairs nearer honest, and bootstrap 95% intervals for the mean
 * of d(arm, deceptive) − d(arm, honest): over pairs, and over fine-tune seeds (whole agents resampled).
 */
import { InvalidArgumentError } from '@soo/core';
import { bootstrapMeanCi, mean, type BootstrapInterval } from '../stats/bootstrap.js';
import { meanOverOpponents, pairKey, type BlueProtocolResult } from './blue-protocol.js';

export interface ArmPair {
  member: string;
  seed: number;
  dHonest: number;
  dDeceptive: number;
}

export interface ArmMember {
  member: string;
  /** Means over env seeds. */
  dHonest: number;
  dDeceptive: number;
  /** The member's own noise floor (mean over reds and env seeds). */
  floor: number;
  /** Env seeds on which the member is nearer honest. */
  nearerHonest: number;
}

export interface ArmSummary {
  arm: string;
  members: ArmMember[];
  pairs: ArmPair[];
  /** Share of (fine-tune seed × env seed) pairs with d(arm, honest) < d(arm, deceptive). */
  shareNearerHonest: number;
  /** Bootstrap interval of mean(dDeceptive − dHonest), resampling pairs. */
  diff: BootstrapInterval;
  /** The same, resampling fine-tune seeds (each with all its env seeds). */
  diffByMember: BootstrapInterval;
}

function pairDistances(res: BlueProtocolResult, a: string, b: string): number[] {
  const d = res.distances[pairKey(a, b)] ?? res.distances[pairKey(b, a)];
  if (!d)
    throw new InvalidArgumentError('INVALID_ARGUMENT', `armSummary(): no distance ${a}↔${b} in the result`);
  return meanOverOpponents(d);
}

export function armSummary(
  res: BlueProtocolResult,
  opts: {
    arm: string;
    members: readonly string[];
    honest?: string;
    deceptive?: string;
    seed?: number;
    resamples?: number;
  },
): ArmSummary {
  const honest = opts.honest ?? 'honest';
  const deceptive = opts.deceptive ?? 'deceptive';
  if (opts.members.length === 0)
    throw new InvalidArgumentError('INVALID_ARGUMENT', `armSummary(): arm ${opts.arm} has no members`);
  const pairs: ArmPair[] = [];
  const members: ArmMember[] = opts.members.map((m) => {
    const dh = pairDistances(res, m, honest);
    const dd = pairDistances(res, m, deceptive);
    res.seeds.forEach((seed, s) => pairs.push({ member: m, seed, dHonest: dh[s]!, dDeceptive: dd[s]! }));
    const fl = res.floors[m];
    return {
      member: m,
      dHonest: mean(dh),
      dDeceptive: mean(dd),
      floor: fl ? mean(meanOverOpponents(fl)) : NaN,
      nearerHonest: dh.filter((v, s) => v < dd[s]!).length,
    };
  });
  const diffs = pairs.map((p) => p.dDeceptive - p.dHonest);
  const boot = { seed: opts.seed ?? 0, resamples: opts.resamples ?? 10_000 };
  return {
    arm: opts.arm,
    members,
    pairs,
    shareNearerHonest: pairs.filter((p) => p.dHonest < p.dDeceptive).length / pairs.length,
    diff: bootstrapMeanCi(diffs, boot),
    diffByMember: bootstrapMeanCi(diffs, { ...boot, clusters: pairs.map((p) => p.member) }),
  };
}
