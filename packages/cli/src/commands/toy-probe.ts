/**
 * Asking a toy model its held-out probes (`@soo/toy`'s probes.ts): greedy answers of a few tokens, scored
 * against the world's rules, and the learning-curve plot `soo toy train` commits with the model.
 */
import { defaultStopTokens, greedyChatAnswers, linePlot, type SooModel, type SooTokenizer } from '@soo/core';
import { TOY_PROBE_KINDS, scoreProbes, type ToyProbe, type ToyProbeScore } from '@soo/toy';

/** New tokens per probe answer: the longest room name is four tokens, then the end token. */
const PROBE_NEW_TOKENS = 6;

/** Greedy answers to every probe, decoded without special tokens. */
export async function answerProbes(
  model: SooModel,
  tok: SooTokenizer,
  probes: readonly ToyProbe[],
  batchSize = 32,
): Promise<string[]> {
  const ids = await greedyChatAnswers(
    model,
    tok,
    probes.map((p) => p.user),
    { maxNewTokens: PROBE_NEW_TOKENS, batchSize, stopTokens: defaultStopTokens(model, tok) },
  );
  return ids.map((x) => tok.decode(x, { skipSpecialTokens: true }));
}

/** One row of the learning curve: the step, tokens seen so far and every probe kind's accuracy. */
export interface ProbePoint {
  step: number;
  tokens: number;
  scores: ToyProbeScore[];
}

export async function probeModel(
  model: SooModel,
  tok: SooTokenizer,
  probes: readonly ToyProbe[],
  at: { step: number; tokens: number },
): Promise<ProbePoint> {
  const answers = await answerProbes(model, tok, probes);
  return { ...at, scores: scoreProbes(probes, answers) };
}

/** A one-line summary for the terminal: `main 0.52 self 0.48 ...`. */
export function probeLine(p: ProbePoint): string {
  return p.scores.map((s) => `${s.kind} ${s.accuracy.toFixed(2)}`).join('  ');
}

/** One point of a learning curve: tokens trained so far and the accuracy of each probe kind. */
export interface CurvePoint {
  tokens: number;
  accuracy: Partial<Record<string, number>>;
}

export function curvePoint(p: ProbePoint, offset = 0): CurvePoint {
  return {
    tokens: offset + p.tokens,
    accuracy: Object.fromEntries(p.scores.map((x) => [x.kind, x.accuracy])),
  };
}

interface StageRecord {
  tokensSeen?: number;
  corpus?: { tokens?: number };
  epochs?: number;
  probes?: {
    curve?: Array<{ tokens: number; accuracy: Record<string, number> }>;
    final?: Array<{ kind: string; accuracy: number }>;
  };
  continuedFrom?: StageRecord;
}

/**
 * The learning curve of the stages a model was continued from (`training.json`'s `continuedFrom` chain,
 * oldest first), on one token axis, and the tokens they trained in all. Stages recorded before probes
 * existed add their tokens but no points.
 */
export function earlierStagesCurve(record: unknown): { points: CurvePoint[]; tokens: number } {
  const stages: StageRecord[] = [];
  for (let r = record as StageRecord | undefined; r && typeof r === 'object'; r = r.continuedFrom)
    stages.unshift(r);
  const points: CurvePoint[] = [];
  let offset = 0;
  for (const st of stages) {
    const seen = st.tokensSeen ?? (st.corpus?.tokens ?? 0) * (st.epochs ?? 1);
    for (const c of st.probes?.curve ?? []) points.push({ tokens: offset + c.tokens, accuracy: c.accuracy });
    if (st.probes?.final)
      points.push({
        tokens: offset + seen,
        accuracy: Object.fromEntries(st.probes.final.map((x) => [x.kind, x.accuracy])),
      });
    offset += seen;
  }
  return { points, tokens: offset };
}

/** The learning curve: accuracy of every probe kind against training tokens. */
export function probeCurveSvg(points: readonly CurvePoint[], title: string): string {
  const series = TOY_PROBE_KINDS.filter((k) => points.some((p) => p.accuracy[k] !== undefined)).map(
    (kind) => ({
      name: kind,
      points: points.flatMap((p) => {
        const a = p.accuracy[kind];
        return a === undefined ? [] : [[p.tokens / 1e6, a] as const];
      }),
    }),
  );
  return linePlot(series, {
    title,
    xLabel: 'training tokens (millions), every stage',
    yLabel: 'held-out accuracy (world rules)',
  });
}
