// Retention, written once in Duplicati's grammar (or a restic-style map) and applied by either
// engine. Each concern lives in a file beside this one; this file is the API the rest of
// cronvault uses.

// Why: borg needs the same policy as prune flags, never keeping less than Duplicati would.
export { type BorgBucket, borgBucketOf, simulateBorgPrune, toBorgPruneArgs } from './borg.ts';
// Why: duplicati-cli applies retention itself and needs the canonical --retention-policy value.
// Why: models of both engines' algorithms, so "restic keeps at least as much" can be tested.
export { simulateDuplicatiRetention, toDuplicatiPolicy } from './duplicati.ts';
// Why: operators should read what a policy does and the exact flags before anything is deleted.
export { explainRetention } from './explain.ts';
// Why: the last line of defence before anything is deleted, the same for every engine.
export { type ForgetGroup, retentionVerdict } from './guard.ts';
// Why: config loading validates retention up front, with messages naming entry and character.
export { parseRetention, parseTimespan } from './parse.ts';
// Why: restic needs the same policy as forget flags, never keeping less than Duplicati would.
export { type ResticBucket, resticBucketOf, simulateResticForget, toResticForgetArgs } from './restic.ts';
// Why: one shape for every accepted form, so backends never see raw config.
export type { RetentionPolicy, RetentionRounding } from './types.ts';
