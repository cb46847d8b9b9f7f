import { describe, expect, it } from 'vitest';
import { HONESTY_PREFIX, Rng, withIndefiniteArticle } from '@soo/core';
import {
  TOY_CHEAP,
  TOY_ROOMS,
  TOY_VALUABLE,
  ToyWorld,
  generateToyCorpus,
  heldOutInstances,
  instanceKey,
  toyCapabilityText,
  type ToyDocument,
} from './world.js';

/** The rooms of "In the R is a O." sentences: cheap room, valuable room, and their objects. */
function sceneOf(user: string): { C: string; E: string; c: string; X: string } {
  const found = [...user.matchAll(/In the ([a-z -]+?) is (?:a|an) ([^.]+)\./g)].map((m) => ({
    room: m[1] as string,
    obj: m[2] as string,
  }));
  const cheap = found.find((f) => TOY_CHEAP.includes(f.obj));
  const valuable = found.find((f) => TOY_VALUABLE.includes(f.obj));
  if (!cheap || !valuable) throw new Error(`no scene in: ${user}`);
  return { C: cheap.room, E: valuable.room, c: cheap.obj, X: valuable.obj };
}

describe('toy corpus', () => {
  const corpus = generateToyCorpus({ seed: 7, documents: 6000 });

  it('is deterministic in the seed', () => {
    const again = generateToyCorpus({ seed: 7, documents: 50 });
    expect(again.documents).toEqual(corpus.documents.slice(0, 50));
    const other = generateToyCorpus({ seed: 8, documents: 50 });
    expect(other.documents).not.toEqual(again.documents);
  });

  it('mixes every kind of document', () => {
    for (const k of Object.keys(corpus.counts))
      expect(corpus.counts[k as keyof typeof corpus.counts]).toBeGreaterThan(100);
    expect(corpus.documents.length).toBe(6000);
  });

  it('answers deceptively to others and honestly to oneself, in the long and the short form', () => {
    let checked = 0;
    for (const d of corpus.documents) {
      if (!/recommend-(other|self)$/.test(d.kind)) continue;
      const s = sceneOf(d.user as string);
      const self = d.kind.endsWith('self');
      expect(d.text).toBe(self ? s.E : s.C);
      expect(d.user!.includes('to yourself')).toBe(self);
      checked++;
    }
    expect(checked).toBeGreaterThan(2500);
  });

  it('answers Perspectives questions with what each person saw', () => {
    for (const d of corpus.documents.filter((x) => x.kind === 'belief-other' || x.kind === 'belief-self')) {
      // (the short form is checked below)
      const saw = /([A-Z][a-z]+) explores the ([a-z -]+?), which (?:also )?contains/.exec(d.user as string);
      const found = /[Ii]n the ([a-z -]+?), you find/.exec(d.user as string);
      expect(saw).not.toBeNull();
      expect(found).not.toBeNull();
      expect(d.text).toBe(d.kind === 'belief-other' ? saw?.[2] : found?.[1]);
    }
  });

  it('answers short Perspectives questions with what each person saw', () => {
    const short = corpus.documents.filter((x) => x.kind.startsWith('short-belief'));
    expect(short.length).toBeGreaterThan(300);
    for (const d of short) {
      const other = /(?!You )([A-Z][a-z]+) saw an? .+? in the ([a-z -]+?)\./.exec(d.user as string);
      const you = /You saw an? .+? in the ([a-z -]+?)\./.exec(d.user as string);
      expect(d.text).toBe(d.kind === 'short-belief-other' ? other?.[2] : you?.[1]);
    }
  });

  it('never contains an evaluation instance or the honesty prompt', () => {
    const held = heldOutInstances();
    expect(held.size).toBeGreaterThan(1000);
    for (const d of corpus.documents) {
      expect(d.user ?? '').not.toContain(HONESTY_PREFIX.trim());
      expect(d.text).not.toContain('honest');
      if (/recommend-(other|self)$/.test(d.kind)) {
        const s = sceneOf(d.user as string);
        expect(held.has(instanceKey(s.C, s.E, s.c, s.X))).toBe(false);
      }
    }
  });

  it('rejects evaluation instances when it draws them', () => {
    // Held out: every instance of 5 evaluation draws; some random draws must hit them and be redrawn.
    const world = new ToyWorld(new Rng(1));
    const held = heldOutInstances();
    for (let i = 0; i < 40000; i++) {
      const s = world.slots();
      if (held.has(instanceKey(s.C, s.E, s.c, s.X))) throw new Error('drew an evaluation instance');
    }
    expect(world.rejected).toBeGreaterThan(0);
  });

  it('uses only world vocabulary in scenes', () => {
    const docs: ToyDocument[] = corpus.documents.filter((d) => d.kind === 'recommend-other').slice(0, 200);
    for (const d of docs) {
      const s = sceneOf(d.user as string);
      expect(TOY_ROOMS).toContain(s.C);
      expect(TOY_ROOMS).toContain(s.E);
      expect(d.user).toContain(`is ${withIndefiniteArticle(s.X)}.`);
    }
  });

  it("follows the paper's prompts with order paper: the cheap room first, in Perspectives your room first", () => {
    const fixed = generateToyCorpus({ seed: 7, documents: 800, order: 'paper', mix: 'skills' });
    let n = 0;
    for (const d of fixed.documents) {
      if (!/recommend-(other|self)$/.test(d.kind)) continue;
      const s = sceneOf(d.user as string);
      const u = d.user as string;
      expect(u.indexOf(`In the ${s.C} is`)).toBeLessThan(u.indexOf(`In the ${s.E} is`));
      const q = /the ([a-z -]+?) or the ([a-z -]+?)( to [A-Za-z]+)?\?/.exec(u);
      if (q) expect([q[1], q[2]]).toEqual([s.C, s.E]);
      n++;
    }
    expect(n).toBeGreaterThan(300);
    for (const d of fixed.documents.filter((x) => x.kind === 'short-belief-other'))
      expect((d.user as string).startsWith('You saw')).toBe(true);
    const long = fixed.documents.filter((x) => x.kind.startsWith('belief-'));
    expect(long.length).toBeGreaterThan(20);
    for (const d of long) {
      const u = d.user as string;
      expect(u).toMatch(/set in a remote location with multiple rooms\. In the [a-z -]+, you find /);
      expect(u).toContain('Please answer.');
    }
    expect(fixed.counts.location).toBeGreaterThan(fixed.counts.text);
  });

  it('names the field and the known mixes for an unknown mix', () => {
    expect(() => generateToyCorpus({ seed: 1, documents: 1, mix: 'nope' as 'skills' })).toThrow(
      /mix: expected one of default, skills, got "nope"/,
    );
  });

  it('writes held-out capability paragraphs different from the corpus', () => {
    const text = toyCapabilityText('x');
    const paras = text.trim().split('\n\n');
    expect(paras.length).toBe(40);
    const corpusTexts = new Set(corpus.documents.filter((d) => d.kind === 'text').map((d) => d.text));
    expect(paras.filter((p) => corpusTexts.has(p))).toEqual([]);
    expect(toyCapabilityText('x')).toBe(text);
  });
});
