// Quoting for /bin/sh, shared by the crontab lines and the dry run's "would run" line.

/** Quotes a word for /bin/sh only when it needs it, so the line stays readable. */
export const shellWord = (word: string): string =>
  /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
