// Limited-memory BFGS for the smooth convex objectives of the probe heads (multinomial and ordinal logistic
// regression with an L2 penalty). A 512-dimensional embedding with 7 classes has ~3,600 parameters: too many for
// Newton's method (a dense Hessian), while L-BFGS needs only the last few (step, gradient change) pairs.
// The line search enforces the weak Wolfe conditions by bisection/doubling (Lewis & Overton): the curvature
// condition guarantees s'y > 0, so every stored pair keeps the inverse-Hessian estimate positive definite.

export interface LbfgsOptions {
  /** Stop when the largest gradient component is at most this. Default 1e-6. */
  gradientTolerance?: number;
  /** Stop when an iteration lowers the objective by less than this relative amount. Default 1e-12. */
  functionTolerance?: number;
  maxIterations?: number;
  /** How many correction pairs to keep. Default 10. */
  memory?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  value: number;
  iterations: number;
  converged: boolean;
  /** Largest absolute gradient component at the end. */
  gradientNorm: number;
}

/** Writes the gradient at x into `gradient` and returns the objective value at x. */
export type ObjectiveWithGradient = (x: Float64Array, gradient: Float64Array) => number;

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]!);
    if (v > m) m = v;
  }
  return m;
}

export function minimizeLbfgs(objective: ObjectiveWithGradient, start: Float64Array, options: LbfgsOptions = {}): LbfgsResult {
  const gtol = options.gradientTolerance ?? 1e-6;
  const ftol = options.functionTolerance ?? 1e-12;
  const maxIterations = options.maxIterations ?? 500;
  const memory = options.memory ?? 10;
  const m = start.length;

  let x = Float64Array.from(start);
  let g = new Float64Array(m);
  let f = objective(x, g);
  if (!Number.isFinite(f)) throw new Error('minimizeLbfgs: the objective is not finite at the starting point.');
  const sHistory: Float64Array[] = [];
  const yHistory: Float64Array[] = [];
  const rhoHistory: number[] = [];
  const direction = new Float64Array(m);
  const alpha = new Float64Array(memory);
  let xNew = new Float64Array(m);
  let gNew = new Float64Array(m);

  let iterations = 0;
  let converged = maxAbs(g) <= gtol;
  while (!converged && iterations < maxIterations) {
    iterations++;
    // Two-loop recursion: direction = -H g with H the L-BFGS inverse-Hessian estimate.
    for (let i = 0; i < m; i++) direction[i] = -g[i]!;
    for (let k = sHistory.length - 1; k >= 0; k--) {
      alpha[k] = rhoHistory[k]! * dot(sHistory[k]!, direction);
      const y = yHistory[k]!;
      for (let i = 0; i < m; i++) direction[i]! -= alpha[k]! * y[i]!;
    }
    if (sHistory.length > 0) {
      const last = sHistory.length - 1;
      const gamma = dot(sHistory[last]!, yHistory[last]!) / dot(yHistory[last]!, yHistory[last]!);
      for (let i = 0; i < m; i++) direction[i]! *= gamma;
    }
    for (let k = 0; k < sHistory.length; k++) {
      const beta = rhoHistory[k]! * dot(yHistory[k]!, direction);
      const s = sHistory[k]!;
      for (let i = 0; i < m; i++) direction[i]! += (alpha[k]! - beta) * s[i]!;
    }
    let slope = dot(g, direction);
    if (!(slope < 0)) {
      // Rounding made the estimate useless: restart from steepest descent.
      sHistory.length = yHistory.length = rhoHistory.length = 0;
      for (let i = 0; i < m; i++) direction[i] = -g[i]!;
      slope = dot(g, direction);
    }

    // Weak Wolfe line search; the first step of a fresh estimate is scaled so it moves about one unit.
    let step = sHistory.length === 0 ? Math.min(1, 1 / Math.sqrt(-slope)) : 1;
    let lo = 0;
    let hi = Infinity;
    let fNew = NaN;
    let accepted = false;
    for (let trial = 0; trial < 60; trial++) {
      for (let i = 0; i < m; i++) xNew[i] = x[i]! + step * direction[i]!;
      fNew = objective(xNew, gNew);
      if (!Number.isFinite(fNew) || fNew > f + 1e-4 * step * slope) hi = step;
      else if (dot(gNew, direction) < 0.9 * slope) lo = step;
      else {
        accepted = true;
        break;
      }
      step = hi < Infinity ? (lo + hi) / 2 : 2 * lo;
    }
    if (!accepted) {
      // No step satisfied both conditions (flat to rounding): keep the best decrease found, if any, and stop.
      if (Number.isFinite(fNew) && fNew < f) {
        [x, xNew] = [xNew, x];
        [g, gNew] = [gNew, g];
        f = fNew;
      }
      break;
    }

    const s = new Float64Array(m);
    const y = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      s[i] = xNew[i]! - x[i]!;
      y[i] = gNew[i]! - g[i]!;
    }
    const sy = dot(s, y);
    if (sy > 1e-300) {
      if (sHistory.length === memory) {
        sHistory.shift();
        yHistory.shift();
        rhoHistory.shift();
      }
      sHistory.push(s);
      yHistory.push(y);
      rhoHistory.push(1 / sy);
    }
    const decrease = f - fNew;
    [x, xNew] = [xNew, x];
    [g, gNew] = [gNew, g];
    f = fNew;
    if (maxAbs(g) <= gtol) converged = true;
    else if (decrease <= ftol * Math.max(Math.abs(f), 1)) converged = true;
  }
  return { x, value: f, iterations, converged, gradientNorm: maxAbs(g) };
}
