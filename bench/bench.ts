/*
 * What a benchmark is: a name, a time bound, and a run() that returns
 * tables. run.ts keeps the registry; lib/ holds the parts every bench
 * shares (processes, gateways, peers, clients, load, stats, tables).
 */
import type { ProcessSet } from './lib/processes.js';
import type { Table } from './lib/table.js';

/** Options every bench may read; set from the command line of run.ts. */
export interface BenchOptions {
  /** Smaller counts for a smoke run (`--quick`): the tables keep their shape, the numbers mean little. */
  quick: boolean;
  /** Log progress lines to stderr. */
  verbose: boolean;
}

/** What a bench gets to work with. Everything it starts goes through `processes`, which run.ts stops afterwards. */
export interface BenchContext {
  options: BenchOptions;
  processes: ProcessSet;
  /** A scratch folder for configs, data dirs and profiles; removed afterwards. */
  tmp: string;
  /** Progress line (stderr), so that stdout carries only tables. */
  log(message: string): void;
  /** Aborted when the bench runs past its time bound. */
  signal: AbortSignal;
}

/** A pass/miss line for the targets summary. */
export interface TargetCheck {
  /** What is promised, in words: "sequential /mcp p50 ≤ 0.5× supergateway". */
  goal: string;
  /** The measured value as shown: "0.41×". */
  measured: string;
  pass: boolean;
  /** By how much it passes or misses, in words. */
  margin: string;
}

/** What a bench hands back: tables in order, plus notes and target checks. */
export interface BenchReport {
  tables: Table[];
  /** Sentences about the setup that a reader needs beside the numbers. */
  notes: string[];
  targets: TargetCheck[];
}

/** One entry of the registry in run.ts. */
export interface Bench {
  name: string;
  /** One line for `npm run bench -- --list`. */
  description: string;
  /** Past this the bench is aborted and its processes stopped. */
  timeoutMs: number;
  run(ctx: BenchContext): Promise<BenchReport>;
}
