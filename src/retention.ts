// Retention, written once in Duplicati's grammar (or a restic-style map) and applied by either
// engine. Each concern lives in src/retention/; this file is the API the rest of cronvault uses.

// Why: one shape for every accepted form, so backends never see raw config.
export type { RetentionCounts, RetentionPolicy, RetentionRule } from './retention/types.ts';
export type { Timespan } from './retention/timespan.ts';
export type { ResticForgetOptions, ResticForgetTranslation } from './retention/restic.ts';

// Why: config loading validates retention up front, with messages naming entry and character.
export { parseRetention, parseTimespan } from './retention/parse.ts';
// Why: duplicati-cli applies retention itself and needs the canonical --retention-policy value.
export { toDuplicatiPolicy } from './retention/duplicati.ts';
// Why: restic needs the same policy as forget flags, never keeping less than Duplicati would.
export { toResticForgetArgs, toResticDuration, RESTIC_UNLIMITED_FALLBACK } from './retention/restic.ts';
// Why: borg needs the same policy as prune flags, never keeping less than Duplicati would.
export { toBorgPruneArgs, toBorgWithin, simulateBorgPrune, borgBucketOf, BORG_UNLIMITED, type BorgBucket, type BorgPruneTranslation } from './retention/borg.ts';
// Why: operators should read what a policy does and the exact flags before anything is deleted.
export { explainRetention, type ExplainOptions } from './retention/explain.ts';
// Why: models of both engines' algorithms, so "restic keeps at least as much" can be tested.
export { simulateDuplicatiRetention } from './retention/duplicati.ts';
export { simulateResticForget, resticBucketOf, type ResticBucket } from './retention/restic.ts';
