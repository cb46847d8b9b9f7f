/**
 * The multi-agent particle world (OpenAI MPE `multiagent/core.py`, PettingZoo `_mpe_utils/core.py`,
 * and the SOO fork with walls). Plain numbers, no allocation per step. See docs/rl.md Part A.
 */

/** Which integration order a world uses (rl.md A.3). */
export type IntegrationOrder = 'openai' | 'pettingzoo';

export interface Entity {
  name: string;
  size: number;
  movable: boolean;
  collide: boolean;
  /** Passes through soft walls (never set in these scenarios). */
  ghost: boolean;
  mass: number;
  /** `null` = no speed limit. 0 freezes the entity (the SOO trap). */
  maxSpeed: number | null;
  /** `null` = the action sensitivity 5 applies (rl.md A.2). */
  accel: number | null;
  px: number;
  py: number;
  vx: number;
  vy: number;
}

export interface Wall {
  orient: 'H' | 'V';
  /** y of a horizontal wall, x of a vertical one. */
  axisPos: number;
  endpoints: [number, number];
  width: number;
  hard: boolean;
}

export interface WorldConfig {
  dt: number;
  damping: number;
  contactForce: number;
  contactMargin: number;
  integration: IntegrationOrder;
}

/** World constants of every MPE variant (rl.md A.1). */
export const MPE_WORLD: Omit<WorldConfig, 'integration'> = {
  dt: 0.1,
  damping: 0.25,
  contactForce: 1e2,
  contactMargin: 1e-3,
};

/** Action sensitivity used when `accel` is null (rl.md A.2). */
export const ACTION_SENSITIVITY = 5.0;

export function makeEntity(name: string, size: number, movable: boolean, collide = false): Entity {
  return {
    name,
    size,
    movable,
    collide,
    ghost: false,
    mass: 1.0,
    maxSpeed: null,
    accel: null,
    px: 0,
    py: 0,
    vx: 0,
    vy: 0,
  };
}

export function makeWall(
  orient: 'H' | 'V',
  axisPos: number,
  width = 0.1,
  endpoints: [number, number] = [-1, 1],
): Wall {
  return { orient, axisPos, endpoints, width, hard: true };
}

/** `k * log(1 + exp(-(dist - distMin)/k))`, computed like numpy's logaddexp(0, x) * k. */
export function softPenetration(dist: number, distMin: number, k: number): number {
  const x = -(dist - distMin) / k;
  // logaddexp(0, x) = max(0, x) + log1p(exp(-|x|))
  return (Math.max(0, x) + Math.log1p(Math.exp(-Math.abs(x)))) * k;
}

export class World {
  readonly config: WorldConfig;
  readonly agents: Entity[];
  readonly landmarks: Entity[];
  readonly walls: Wall[];
  private readonly all: Entity[];
  /** Per-entity force accumulators (agents first, then landmarks). */
  private fx: Float64Array;
  private fy: Float64Array;
  private hasForce: Uint8Array;

  constructor(config: WorldConfig, agents: Entity[], landmarks: Entity[], walls: Wall[] = []) {
    this.config = config;
    this.agents = agents;
    this.landmarks = landmarks;
    this.walls = walls;
    this.all = [...agents, ...landmarks];
    const n = agents.length + landmarks.length;
    this.fx = new Float64Array(n);
    this.fy = new Float64Array(n);
    this.hasForce = new Uint8Array(n);
  }

  /** Agents first, then landmarks (world order). */
  get entities(): readonly Entity[] {
    return this.all;
  }

  /**
   * One `world.step()`. `ux[i], uy[i]` is agent i's control `u` as the env decoded it from the action;
   * the force is `(accel ?? 5)·u` (rl.md A.2: the env multiplies u by the sensitivity; mass is 1 and
   * `accel` is never set in these scenarios, so the fork's extra `mass·accel` factor never applies).
   */
  step(ux: ArrayLike<number>, uy: ArrayLike<number>): void {
    const ents = this.entities;
    const { fx, fy, hasForce } = this;
    fx.fill(0);
    fy.fill(0);
    hasForce.fill(0);
    // (2a) action forces
    for (let i = 0; i < this.agents.length; i++) {
      const a = this.agents[i]!;
      if (!a.movable) continue;
      const sens = a.accel ?? ACTION_SENSITIVITY;
      fx[i] = sens * ux[i]!;
      fy[i] = sens * uy[i]!;
      hasForce[i] = 1;
    }
    // (2b) environment forces: pairwise contact, then walls (per entity a, after its pairs)
    for (let a = 0; a < ents.length; a++) {
      const ea = ents[a]!;
      for (let b = a + 1; b < ents.length; b++) this.addContactForce(ea, ents[b]!, a, b);
      if (ea.movable) {
        for (const wall of this.walls) this.addWallForce(ea, wall, a);
      }
    }
    // (3) integrate
    const { dt, damping, integration } = this.config;
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!;
      if (!e.movable) continue;
      if (integration === 'pettingzoo') {
        e.px += e.vx * dt;
        e.py += e.vy * dt;
      }
      e.vx *= 1 - damping;
      e.vy *= 1 - damping;
      if (hasForce[i]) {
        e.vx += (fx[i]! / e.mass) * dt;
        e.vy += (fy[i]! / e.mass) * dt;
      }
      if (e.maxSpeed !== null) {
        const speed = Math.sqrt(e.vx * e.vx + e.vy * e.vy);
        if (speed > e.maxSpeed) {
          e.vx = (e.vx / speed) * e.maxSpeed;
          e.vy = (e.vy / speed) * e.maxSpeed;
        }
      }
      if (integration === 'openai') {
        e.px += e.vx * dt;
        e.py += e.vy * dt;
      }
    }
    // (4) communication state of silent agents is zero: not modelled (no agent speaks here).
  }

  /** Contact force between two entities (MPE core.py `get_entity_collision_force`). */
  private addContactForce(ea: Entity, eb: Entity, a: number, b: number): void {
    if (!ea.collide || !eb.collide) return;
    if (!ea.movable && !eb.movable) return;
    const dx = ea.px - eb.px;
    const dy = ea.py - eb.py;
    const dist = Math.sqrt(dx * dx + dy * dy);
    const distMin = ea.size + eb.size;
    const pen = softPenetration(dist, distMin, this.config.contactMargin);
    const fX = ((this.config.contactForce * dx) / dist) * pen;
    const fY = ((this.config.contactForce * dy) / dist) * pen;
    if (ea.movable && eb.movable) {
      const ratio = eb.mass / ea.mass;
      this.fx[a]! += ratio * fX;
      this.fy[a]! += ratio * fY;
      this.fx[b]! -= fX / ratio;
      this.fy[b]! -= fY / ratio;
      this.hasForce[a] = 1;
      this.hasForce[b] = 1;
    } else if (ea.movable) {
      this.fx[a]! += fX;
      this.fy[a]! += fY;
      this.hasForce[a] = 1;
    } else {
      this.fx[b]! -= fX;
      this.fy[b]! -= fY;
      this.hasForce[b] = 1;
    }
  }

  /** Wall force (SOO fork core.py `get_wall_collision_force`, rl.md D.1); returns it for tests too. */
  wallForce(e: Entity, wall: Wall): [number, number] | null {
    if (e.ghost && !wall.hard) return null;
    const prll = wall.orient === 'H' ? e.px : e.py;
    const perp = wall.orient === 'H' ? e.py : e.px;
    const [end0, end1] = wall.endpoints;
    let theta = 0;
    let distMin: number;
    if (prll < end0 - e.size || prll > end1 + e.size) return null;
    if (prll < end0 || prll > end1) {
      const distPastEnd = prll < end0 ? prll - end0 : prll - end1;
      theta = Math.asin(distPastEnd / e.size);
      distMin = Math.cos(theta) * e.size + 0.5 * wall.width;
    } else {
      distMin = e.size + 0.5 * wall.width;
    }
    const delta = perp - wall.axisPos;
    const dist = Math.abs(delta);
    const pen = softPenetration(dist, distMin, this.config.contactMargin);
    const mag = ((this.config.contactForce * delta) / dist) * pen;
    const fPerp = Math.cos(theta) * mag;
    const fPrll = Math.sin(theta) * Math.abs(mag);
    return wall.orient === 'H' ? [fPrll, fPerp] : [fPerp, fPrll];
  }

  private addWallForce(e: Entity, wall: Wall, idx: number): void {
    const f = this.wallForce(e, wall);
    if (f === null) return;
    this.fx[idx]! += f[0];
    this.fy[idx]! += f[1];
    this.hasForce[idx] = 1;
  }
}

export function dist(a: { px: number; py: number }, b: { px: number; py: number }): number {
  const dx = a.px - b.px;
  const dy = a.py - b.py;
  return Math.sqrt(dx * dx + dy * dy);
}
