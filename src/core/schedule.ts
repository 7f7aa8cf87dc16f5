/**
 * Learning-rate schedules: what the rate is for the update about to happen.
 *
 * - constant: the base rate.
 * - step: char-rnn's decay, base · decay^⌊epoch / every⌋.
 * - cosine: from the base rate down to `minRate` over the run's length (nanoGPT's get_lr), then `minRate`.
 *
 * Every schedule starts with `warmup` iterations rising linearly to the rate it would have (nanoGPT's
 * (it + 1) / (warmup + 1)), which keeps Adam's first, poorly estimated steps small.
 */

export type LrScheduleKind = 'constant' | 'step' | 'cosine';

export const LR_SCHEDULE_KINDS: readonly LrScheduleKind[] = ['constant', 'step', 'cosine'];

export interface LrSchedule {
  kind: LrScheduleKind;
  baseRate: number;
  /** The floor cosine decays to. */
  minRate: number;
  warmup: number;
  /** step: multiply by `decay` every `decayEvery` epochs. */
  decay: number;
  decayEvery: number;
  /** cosine: the iteration at which the rate reaches minRate (the run's length). */
  totalIterations: number;
}

/** The rate for the update that makes iteration `iteration + 1`, during epoch `epoch` (both counted from 0). */
export function learningRateAt(schedule: LrSchedule, iteration: number, epoch: number): number {
  const rate = scheduledRate(schedule, iteration, epoch);
  if (iteration >= schedule.warmup) return rate;
  return (rate * (iteration + 1)) / (schedule.warmup + 1);
}

function scheduledRate(schedule: LrSchedule, iteration: number, epoch: number): number {
  const { kind, baseRate, minRate } = schedule;
  if (kind === 'constant') return baseRate;
  if (kind === 'step') {
    if (schedule.decay === 1 || schedule.decayEvery <= 0) return baseRate;
    return baseRate * schedule.decay ** Math.floor(epoch / schedule.decayEvery);
  }
  const span = schedule.totalIterations - schedule.warmup;
  if (span <= 0) return minRate;
  const progress = Math.min(1, Math.max(0, (iteration - schedule.warmup) / span));
  return minRate + 0.5 * (baseRate - minRate) * (1 + Math.cos(Math.PI * progress));
}

/**
 * The length of a run limited only by time: the iterations the remaining seconds allow at the measured
 * rate, plus those already done. A little short of the estimate, so that the rate has reached its floor
 * by the time the clock runs out rather than being cut off high.
 */
export function iterationsForTime(done: number, secondsLeft: number, secondsPerIteration: number): number {
  const SAFETY = 0.97;
  return done + Math.max(1, Math.floor((SAFETY * secondsLeft) / secondsPerIteration));
}
