import { afterAll } from 'vitest';
import { killSpawned } from './harness.js';

// Setup file of the projects that start gateways (vitest.config.ts): after a file's tests and its own
// afterAll hooks, a gateway that a timed-out test left starting is killed rather than left running.
afterAll(killSpawned);
