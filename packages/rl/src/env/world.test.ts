import { describe, expect, it } from 'vitest';
import { makeEntity, makeWall, MPE_WORLD, softPenetration, World, type IntegrationOrder } from './world.js';

// rl.md A.3 golden table: start at rest, u = +1 on x (force 5), dt 0.1, damping 0.25
const GOLDEN = [
  { v: 0.5, openai: 0.05, pettingzoo: 0.0 },
  { v: 0.875, openai: 0.1375, pettingzoo: 0.05 },
  { v: 1.15625, openai: 0.253125, pettingzoo: 0.1375 },
  { v: 1.3671875, openai: 0.38984375, pettingzoo: 0.253125 },
  { v: 1.525390625, openai: 0.5423828125, pettingzoo: 0.38984375 },
];

function oneAgent(order: IntegrationOrder) {
  const a = makeEntity('a', 0.15, true);
  return { a, world: new World({ ...MPE_WORLD, integration: order }, [a], []) };
}

describe('particle world physics', () => {
  for (const order of ['openai', 'pettingzoo'] as const) {
    it(`matches the golden table (${order} order)`, () => {
      const { a, world } = oneAgent(order);
      for (const row of GOLDEN) {
        world.step([1], [0]);
        expect(a.vx).toBeCloseTo(row.v, 12);
        expect(a.px).toBeCloseTo(row[order], 12);
        expect(a.vy).toBe(0);
        expect(a.py).toBe(0);
      }
    });
  }

  it('reaches the terminal speed 2.0 (0.2 per step)', () => {
    const { a, world } = oneAgent('openai');
    for (let i = 0; i < 200; i++) world.step([1], [0]);
    expect(a.vx).toBeCloseTo(2.0, 9);
    const p = a.px;
    world.step([1], [0]);
    expect(a.px - p).toBeCloseTo(0.2, 9);
  });

  it('max speed 0 freezes an entity whatever the force', () => {
    const { a, world } = oneAgent('openai');
    world.step([1], [1]);
    a.maxSpeed = 0;
    const [x, y] = [a.px, a.py];
    for (let i = 0; i < 5; i++) world.step([1], [-1]);
    expect([a.px, a.py]).toEqual([x, y]);
    expect(a.vx === 0 && a.vy === 0).toBe(true); // ±0 (the rescale keeps the sign, as numpy does)
  });

  it('wall force: 100·k·ln2 at contact, ≈1.0 at 0.01 penetration, none beyond the ends', () => {
    const a = makeEntity('a', 0.15, true);
    const wall = makeWall('V', 1);
    const world = new World({ ...MPE_WORLD, integration: 'openai' }, [a], [], [wall]);
    // contact: |x − 1| = 0.15 + 0.05 = 0.2
    a.px = 0.8;
    a.py = 0;
    const f0 = world.wallForce(a, wall)!;
    expect(f0[0]).toBeCloseTo(-100 * 1e-3 * Math.LN2, 12);
    expect(f0[1]).toBeCloseTo(0, 12);
    a.px = 0.81;
    expect(world.wallForce(a, wall)![0]).toBeCloseTo(-100 * softPenetration(0.19, 0.2, 1e-3), 12);
    expect(Math.abs(world.wallForce(a, wall)![0] + 1.0)).toBeLessThan(1e-3);
    // beyond an end of the wall (|y| > 1 + size): no force at all
    a.py = 1.2;
    expect(world.wallForce(a, wall)).toBeNull();
    // partly past an end: perpendicular force scaled by cos θ, a parallel component appears
    a.py = 1.05;
    const f = world.wallForce(a, wall)!;
    expect(f[0]).toBeLessThan(0);
    expect(f[1]).toBeGreaterThan(0);
  });

  it('walls act whatever the collide flag and push agents back inside', () => {
    const a = makeEntity('a', 0.15, true); // collide = false
    const walls = [makeWall('H', -1), makeWall('H', 1), makeWall('V', -1), makeWall('V', 1)];
    const world = new World({ ...MPE_WORLD, integration: 'openai' }, [a], [], walls);
    // pushing with full force (5) into the corner: equilibrium where 100·pen = 5, i.e. 0.05 past contact
    for (let i = 0; i < 300; i++) world.step([1], [1]);
    expect(a.px).toBeCloseTo(0.85, 3);
    expect(a.py).toBeCloseTo(0.85, 3);
    // released: the wall pushes it back out of contact (|x| ≲ 0.8)
    for (let i = 0; i < 300; i++) world.step([0], [0]);
    expect(a.px).toBeLessThan(0.8);
    expect(Math.abs(a.vx)).toBeLessThan(1e-9);
  });

  it('contact forces only between two colliders', () => {
    const a = makeEntity('a', 0.15, true, false);
    const b = makeEntity('b', 0.15, true, false);
    const world = new World({ ...MPE_WORLD, integration: 'openai' }, [a, b], []);
    b.px = 0.1;
    world.step([0, 0], [0, 0]);
    expect([a.px, b.px, a.vx, b.vx]).toEqual([0, 0.1, 0, 0]);
    a.collide = true;
    b.collide = true;
    world.step([0, 0], [0, 0]);
    expect(a.vx).toBeLessThan(0);
    expect(b.vx).toBeGreaterThan(0);
    expect(a.vx).toBeCloseTo(-b.vx, 12);
  });
});
