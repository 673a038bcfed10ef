/** What a guest thread hands back to the vCPU when it cannot go on by itself. */
export const SYNC = 1;
export const BLOCK = 2;
/** The thread's time slice is over: others that are ready run first. */
export const YIELD = 3;
export type Step = typeof SYNC | typeof BLOCK | typeof YIELD;
export type Proc<T> = Generator<Step, T, void>;
export type Program = Proc<void>;
