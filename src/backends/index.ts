// The one place that picks an adapter by engine name.
import type { EngineName } from '../config.ts';
import { borg } from './borg.ts';
import { duplicati } from './duplicati.ts';
import { restic } from './restic.ts';
import type { Backend } from './types.ts';

const BACKENDS: Record<EngineName, Backend> = { restic, duplicati, borg };

export const backendFor = (engine: EngineName): Backend => BACKENDS[engine];
